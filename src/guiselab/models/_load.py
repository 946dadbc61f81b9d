"""Loading HF-format causal LMs (embedded, local directory, hub id or GGUF) with an adapter."""

from __future__ import annotations

import errno
import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from guiselab._read import read_text
from guiselab.config import ModelsConfig
from guiselab.errors import ModelRefError
from guiselab.models._embedded import EMBEDDED, materialize, sha256_file
from guiselab.refs import ModelRef, parse_ref

__all__ = [
    "LoadedModel",
    "ModelIdentity",
    "adapter_sha256",
    "identify",
    "load_model",
    "pick_device",
    "pick_dtype",
]


@dataclass
class LoadedModel:
    """A causal LM ready for sampling, scoring or training, with what identifies its weights."""

    model: Any
    """The ``transformers`` model (a ``PeftModel`` when an adapter is attached)."""
    tokenizer: Any
    ref: str
    """The reference it was loaded from."""
    fingerprint: str
    """sha256 over the base weights and the adapter: part of every store key."""
    weights_sha256: str
    adapter_sha256: str | None
    device: torch.device

    @property
    def chat(self) -> bool:
        """Whether prompts go through the tokenizer's chat template."""
        return bool(getattr(self.tokenizer, "chat_template", None))


def pick_device(config: ModelsConfig) -> torch.device:
    if config.device != "auto":
        return torch.device(config.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(config: ModelsConfig, device: torch.device) -> torch.dtype:
    if config.dtype != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            config.dtype
        ]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


_SIDE_FILE_LIMIT = 64 << 20


def _side_files_sha256(source: str) -> str | None:
    """sha256 over a model directory's small files (tokenizer, chat template, configs).

    They change what a model is asked and how it answers without touching the weights.
    """
    folder = Path(source)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and not path.name.startswith("guiselab-")
            and path.suffix not in (".safetensors", ".gguf")
            and path.stat().st_size < _SIDE_FILE_LIMIT
        ):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _local_weights_sha256(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(
            p.name for p in folder.glob("*.pt")
        )
        if pickles:
            raise ModelRefError(
                f"only pickle checkpoints ({', '.join(pickles)}) found; guiselab loads "
                "safetensors or GGUF only: convert the weights to safetensors",
                where=str(folder),
            )
        raise ModelRefError("no *.safetensors weights in this directory", where=str(folder))
    digest = hashlib.sha256()
    for path in files:
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def _adapter_config(folder: Path) -> None:
    """``adapter_config.json`` must be a JSON object naming its PEFT method."""
    path = folder / "adapter_config.json"
    if not path.is_file():
        raise ModelRefError(
            "not a PEFT adapter (no adapter_config.json); point at the adapter's directory",
            where=str(folder),
        )
    try:
        config = json.loads(read_text(path, error=ModelRefError))
    except (ValueError, RecursionError):
        config = None
    if not isinstance(config, dict) or not isinstance(config.get("peft_type"), str):
        raise ModelRefError(
            "adapter_config.json is not a PEFT adapter config (a JSON object with a "
            "'peft_type'); point at the directory PEFT's save_pretrained wrote",
            where=str(path),
        )


def _check_safetensors(path: Path) -> None:
    """The header of a safetensors file: it must parse and describe tensors that fit in the
    file. Read lazily (memory-mapped), so a broken adapter fails before any model loads."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelRefError(
            f"not a readable safetensors file ({first}); re-save or retrain the adapter",
            where=str(path),
        ) from None
    if not names:
        raise ModelRefError(
            "the safetensors file holds no tensors; re-save or retrain the adapter",
            where=str(path),
        )


def adapter_sha256(folder: Path) -> str:
    """sha256 of a PEFT adapter directory's weights; errors name the path and what is missing.

    The directory is checked as far as it can be without a model: a config naming its PEFT
    method, and safetensors weights whose header is whole (pickled weights are refused).
    """
    try:
        is_dir = stat.S_ISDIR(folder.stat().st_mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ModelRefError(
                "adapter path is a symbolic link loop; point at the adapter's directory",
                where=str(folder),
            ) from None
        is_dir = False
    if not is_dir:
        raise ModelRefError("adapter directory does not exist; check the path", where=str(folder))
    weights = folder / "adapter_model.safetensors"
    pickles = [n for n in ("adapter_model.bin", "adapter_model.pt") if (folder / n).exists()]
    if pickles and not weights.is_file():
        raise ModelRefError(
            f"adapter has only the pickle {', '.join(pickles)} (pickled adapters are refused: "
            "loading one runs code); save it with safe_serialization=True",
            where=str(folder),
        )
    _adapter_config(folder)
    if not weights.is_file():
        raise ModelRefError(
            "adapter has no adapter_model.safetensors; point at the directory PEFT's "
            "save_pretrained wrote",
            where=str(folder),
        )
    _check_safetensors(weights)
    return sha256_file(weights)


def _resolve(ref: ModelRef) -> tuple[str, dict[str, Any], str]:
    """Where ``from_pretrained`` should look, extra kwargs, and the weights' sha256."""
    if ref.kind == "embedded":
        folder, digest = materialize(ref.target)
        return str(folder), {}, digest
    if ref.kind == "gguf":
        path = Path(ref.target)
        if not path.is_file():
            raise ModelRefError("GGUF file not found; check the path", where=str(path))
        return str(path.parent), {"gguf_file": path.name}, sha256_file(path)
    if ref.kind == "hf":
        path = Path(ref.target)
        if path.exists():
            return str(path), {}, _local_weights_sha256(path)
        # A hub id: the digest names the repo; weights come from the hub only with network.
        return ref.target, {}, hashlib.sha256(ref.target.encode()).hexdigest()
    raise ModelRefError(
        f"'{ref}' is served by the {ref.kind} backend, which cannot be loaded in-process; "
        "use an embedded:, hf: or gguf: reference here",
        where="models",
    )


@dataclass(frozen=True)
class ModelIdentity:
    """What identifies a model's weights, found without loading them."""

    ref: ModelRef
    source: str
    kwargs: dict[str, Any]
    weights_sha256: str
    adapter: Path | None
    adapter_sha256: str | None

    @property
    def fingerprint(self) -> str:
        """sha256 over weights, tokenizer/config files and adapter: part of every store key."""
        blob = json.dumps(
            [self.weights_sha256, _side_files_sha256(self.source), self.adapter_sha256]
        ).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.ref.kind}:{self.ref.target}" + (
            f"@adapter={self.adapter}" if self.adapter else ""
        )


def identify(
    ref_text: str, *, adapter: Path | None = None, key: str = "models.base"
) -> ModelIdentity:
    """Resolve a reference (and adapter) to its weights and their sha256, loading nothing."""
    ref = parse_ref(ref_text, key=key)
    adapter_path = adapter or (Path(ref.adapter) if ref.adapter else None)
    adapter_digest = adapter_sha256(adapter_path) if adapter_path else None
    source, kwargs, weights_digest = _resolve(ref)
    return ModelIdentity(ref, source, kwargs, weights_digest, adapter_path, adapter_digest)


def load_model(
    ref_text: str,
    config: ModelsConfig,
    *,
    adapter: Path | None = None,
    key: str = "models.base",
    identity: ModelIdentity | None = None,
) -> LoadedModel:
    """Load a model reference (and optional LoRA adapter) onto the configured device/dtype."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ident = identity or identify(ref_text, adapter=adapter, key=key)
    ref, source, kwargs = ident.ref, ident.source, dict(ident.kwargs)
    adapter_path, adapter_digest, weights_digest = (
        ident.adapter,
        ident.adapter_sha256,
        ident.weights_sha256,
    )
    device = pick_device(config)
    dtype = pick_dtype(config, device)
    trust = config.trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust, **kwargs)
    if ref.kind in ("embedded", "hf"):
        kwargs["use_safetensors"] = True
    model: Any = AutoModelForCausalLM.from_pretrained(
        source, dtype=dtype, trust_remote_code=trust, **kwargs
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter_path is not None:
        model = _attach_adapter(model, adapter_path)
    model.to(device)
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        ref=ident.label,
        fingerprint=ident.fingerprint,
        weights_sha256=weights_digest,
        adapter_sha256=adapter_digest,
        device=device,
    )


def _attach_adapter(model: Any, folder: Path) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelRefError(
            f"adapter does not fit this base model ({first}); use an adapter trained on it",
            where=str(folder),
        ) from None


def describe_embedded() -> list[tuple[str, str, str]]:
    """(name, package, description) of every embedded model, for ``guiselab init`` and docs."""
    return [(m.name, m.package, m.description) for m in EMBEDDED.values()]
