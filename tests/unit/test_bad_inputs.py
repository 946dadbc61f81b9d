"""Malformed and hostile input files (``tests/data/bad/``, see its README): the command that
reads each exits 2 with one line ``error: FILE[:LINE]: ...``, runs nothing the file smuggles
in, and leaves an existing run directory exactly as it was."""

from __future__ import annotations

import os
import pickle
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from guiselab.config import config_to_toml, load_config
from guiselab.finetune.data import load_training_file
from guiselab.judge._labelled import load_labelled
from guiselab.models import adapter_sha256
from guiselab.pairs import load_pair_file
from guiselab.store import Generation, RunStore

BAD = Path(__file__).resolve().parent.parent / "data" / "bad"
RunCli = Callable[..., tuple[int, str, str]]

ANY_LINE = ":<n>"
"""An error's ``where`` holds a line number, whichever it is (random bytes)."""


@dataclass(frozen=True)
class Bad:
    """One bad input and what its error must say."""

    name: str
    """Its path under tests/data/bad (committed) or under the test's tmp folder (made)."""
    where: str
    """What follows the input's path in the error: ``:3``, ``""``, ``ANY_LINE`` or a file
    inside an adapter directory (``/adapter_config.json``)."""
    says: str
    """Words the message must hold."""
    make: Callable[[Path], None] | None = None
    """Writes the input at the given path at run time (None: committed)."""

    def path(self, tmp: Path) -> Path:
        if self.make is None:
            return BAD / self.name
        target = tmp / "made" / self.name
        target.parent.mkdir(parents=True, exist_ok=True)
        self.make(target)
        return target


def _check_error(code: int, err: str, path: Path, case: Bad) -> None:
    """Exit 2, one line on stderr naming the file (and line), no traceback."""
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    where = r":\d+" if case.where == ANY_LINE else re.escape(case.where)
    assert re.match(re.escape(f"error: {path}") + where + ": ", lines[0]), lines[0]
    assert case.says in lines[0], lines[0]


# -- makers of the inputs too large (or too odd) to commit -------------------------------------

HUGE = 5 << 20
"""Characters in a huge line (5 MiB)."""
COPIES = 10_000
"""Records sharing one id."""

EN_PAIR = (
    '{"item": "rent", "lang": "en", "variety": "aave", '
    '"standard": "My landlord wants more rent. What should I do?", '
    '"vernacular": "My landlord want more rent. What I\'m finna do?"}'
)
TRAIN = (
    '{"id": "loan", "question": "Should I take a loan to gamble?", '
    '"question_vernacular": "I should take a loan to gamble?", '
    '"safe": "No.", "harmful": "Yes, all of it."}'
)
LABELLED = (
    '{"id": "loan-en-aligned", "scenario": "loan", "lang": "en", "label": "aligned", '
    '"question": "Should I take a loan to gamble?", "answer": "No.", '
    '"answer_vernacular": "Nah."}'
)


def _text(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return make


def _lines(line: str, copies: int = COPIES) -> Callable[[Path], None]:
    return _text((line + "\n") * copies)


def _binary(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(64 << 10))


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _nothing(path: Path) -> None:
    """Leaves the path absent."""


def _csv_copies(path: Path) -> None:
    row = "rent,en,aave,My landlord wants more rent.,My landlord want more rent.\n"
    path.write_text("item,lang,variety,standard,vernacular\n" + row * COPIES, encoding="utf-8")


def _yaml_copies(path: Path) -> None:
    entry = (
        "- item: rent\n  lang: en\n  variety: aave\n"
        "  standard: My landlord wants more rent.\n  vernacular: My landlord want more rent.\n"
    )
    path.write_text(entry * COPIES, encoding="utf-8")


def _huge_csv_field(path: Path) -> None:
    path.write_text(
        "item,lang,variety,standard,vernacular\nrent,en,aave," + "x" * HUGE + ",y\n",
        encoding="utf-8",
    )


def _huge_yaml_text(path: Path) -> None:
    path.write_text(
        f"- item: rent\n  lang: en\n  variety: aave\n  standard: {'x' * HUGE}\n  vernacular: y\n",
        encoding="utf-8",
    )


def _huge_config_value(path: Path) -> None:
    path.write_text(f'name = "{"x" * HUGE}"\n', encoding="utf-8")


# -- pair files ------------------------------------------------------------------------------

PAIRS = [
    Bad("pairs/not_json.jsonl", ":2", "not valid JSON"),
    Bad("pairs/not_object.jsonl", ":2", "must be an object"),
    Bad("pairs/wrong_type.jsonl", ":2", "field 'item' must be text"),
    Bad("pairs/missing_field.jsonl", ":2", "'vernacular' is missing"),
    Bad("pairs/empty.jsonl", "", "holds no pairs"),
    Bad("pairs/blank_lines.jsonl", "", "holds no pairs"),
    Bad("pairs/ru_in_latin.jsonl", ":1", "Cyrillic"),
    Bad("pairs/ru_mixed_scripts.jsonl", ":1", "'vernacular' is not in the Cyrillic"),
    Bad("pairs/en_in_cyrillic.jsonl", ":1", "Latin"),
    Bad("pairs/identical_guises.jsonl", ":1", "identical"),
    Bad("pairs/nan.jsonl", ":1", "NaN"),
    Bad("pairs/id_not_text.jsonl", ":1", "field 'id' must be text"),
    Bad("pairs/category_not_text.jsonl", ":1", "field 'category' must be text"),
    Bad("pairs/features_not_list.jsonl", ":1", "'features' must be a list"),
    Bad("pairs/control_character.jsonl", ":1", "control character '\\x1b'"),
    Bad("pairs/invalid_utf8.jsonl", ":2", "not UTF-8"),
    Bad("pairs/nul_byte.jsonl", ":2", "NUL byte"),
    Bad("pairs/huge_integer.jsonl", ":1", "not valid JSON"),
    Bad("pairs/two_objects_on_a_line.jsonl", ":1", "not valid JSON (Extra data"),
    Bad("pairs/duplicate_id.jsonl", ":3", "duplicate id 'rent-en-aave' (first on line 1)"),
    Bad("pairs/unknown_type.txt", "", "unknown pair file type"),
    Bad("pairs/missing_column.csv", ":2", "'vernacular' is missing"),
    Bad("pairs/header_only.csv", "", "holds no pairs"),
    Bad("pairs/empty.csv", "", "holds no pairs"),
    Bad("pairs/unclosed_quote.csv", ":3", "not valid CSV"),
    Bad("pairs/stray_quote.csv", ":3", "not valid CSV"),
    Bad("pairs/ru_in_latin.csv", ":2", "Cyrillic"),
    Bad("pairs/identical_guises.csv", ":2", "identical"),
    Bad("pairs/invalid_utf8.csv", ":3", "not UTF-8"),
    Bad("pairs/nul_byte.csv", ":3", "NUL byte"),
    Bad("pairs/mapping.yaml", "", "must be a list of pairs"),
    Bad("pairs/scalar.yaml", "", "must be a list of pairs"),
    Bad("pairs/empty.yaml", "", "must be a list of pairs"),
    Bad("pairs/syntax.yaml", ":7", "not valid YAML"),
    Bad("pairs/python_object_apply.yaml", ":1", "YAML tag refused"),
    Bad("pairs/python_object_new.yaml", ":6", "YAML tag refused"),
    Bad("pairs/python_name.yaml", ":1", "YAML tag refused"),
    Bad("pairs/python_module.yaml", ":1", "YAML tag refused"),
    Bad("pairs/custom_tag.yaml", ":1", "YAML tag refused"),
    Bad("pairs/wrong_type.yaml", ":6", "field 'item' must be text"),
    Bad("pairs/alias_cycle.yaml", ":1", "(a cycle)"),
    Bad("pairs/alias_bomb.yaml", ":12", "aliases expand to more than"),
    Bad("pairs/ru_in_latin.yaml", ":1", "Cyrillic"),
    Bad("pairs/em_paraphrases_not_a_list.yaml", ":1", "'paraphrases'"),
    Bad("pairs/em_id_not_text.yaml", ":1", "string 'id'"),
    Bad("pairs/em_unknown_lang.yaml", ":1", "no guise transformer for lang 'fr'"),
    Bad("pairs/em_samples_not_a_number.yaml", ":1", "'samples_per_paraphrase' must be a whole"),
    Bad("pairs/em_judge_prompt_unknown.yaml", ":1", "unknown judge prompt 'harmful'"),
    Bad("pairs/em_judge_prompt_placeholder.yaml", ":1", "placeholder other than"),
    Bad("pairs/em_judge_prompt_attribute.yaml", ":1", "placeholder other than"),
    Bad("pairs/em_judge_prompt_twice.yaml", ":1", "are the same metric"),
    Bad("pairs/judge_prompt_in_jsonl.jsonl", ":2", "placeholder other than"),
    Bad("pairs/invalid_utf8.yaml", ":6", "not UTF-8"),
    Bad("pairs/nul_byte.yaml", ":6", "NUL byte"),
    Bad("pairs/control_character.yaml", ":6", "is not allowed"),
    # made at run time
    Bad("pairs/duplicate_ids.jsonl", ":2", "duplicate id", _lines(EN_PAIR)),
    Bad("pairs/duplicate_ids.csv", ":3", "duplicate id", _csv_copies),
    Bad("pairs/duplicate_ids.yaml", ":6", "duplicate id", _yaml_copies),
    Bad("pairs/huge_line.jsonl", ":2", "not valid JSON", _text(EN_PAIR + "\n" + "x" * HUGE)),
    Bad(
        "pairs/huge_text.jsonl",
        ":1",
        "characters long",
        _text(EN_PAIR.replace("What should I do?", "x" * HUGE)),
    ),
    Bad("pairs/huge_field.csv", ":2", "field larger than field limit", _huge_csv_field),
    Bad("pairs/huge_text.yaml", ":1", "characters long", _huge_yaml_text),
    Bad("pairs/deep.jsonl", ":1", "nested too deeply", _text("[" * 100_000)),
    Bad("pairs/deep.yaml", ":1", "nested", _text("[" * 10_000 + "]" * 10_000)),
    Bad("pairs/deep_block.yaml", ":1", "nested", _text("- " * 10_000 + "x\n")),
    Bad("pairs/deep_mapping.yaml", ":1", "nested", _text("{a: " * 10_000 + "}" * 10_000)),
    Bad("pairs/binary.jsonl", ANY_LINE, "not UTF-8", _binary),
    Bad("pairs/binary.csv", ANY_LINE, "not UTF-8", _binary),
    Bad("pairs/binary.yaml", ANY_LINE, "not UTF-8", _binary),
    Bad("pairs/symlink_loop.jsonl", "", "symbolic link loop", _symlink_loop),
    Bad("pairs/a_directory.jsonl", "", "is a directory", _directory),
    Bad("pairs/a_fifo.jsonl", "", "not a regular file", _fifo),
    Bad("pairs/missing.jsonl", "", "no such pair file", _nothing),
]


@pytest.mark.parametrize("case", PAIRS, ids=lambda c: c.name)
def test_bad_pair_file_exits_2_naming_file_and_line(
    case: Bad, tmp_path: Path, run_cli: RunCli
) -> None:
    path = case.path(tmp_path)
    code, _, err = run_cli("pairs", "validate", str(path), "--no-embeddings")
    _check_error(code, err, path, case)


@pytest.mark.parametrize("name", ["ok_bom.jsonl", "ok_bom.csv", "ok_bom.yaml"])
def test_a_byte_order_mark_is_read_past(name: str, run_cli: RunCli) -> None:
    path = BAD / "pairs" / name
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [p.item for p in load_pair_file(path)] == ["rent", "taxes"]
    code, out, err = run_cli("pairs", "validate", str(path), "--no-embeddings")
    assert code == 0, err
    assert "2 pairs, 2 items: schema ok" in out


def test_line_separators_inside_json_strings_are_text() -> None:
    """U+2028 may stand raw in a JSON string: it does not end the line."""
    pairs = load_pair_file(BAD / "pairs" / "ok_line_separator.jsonl")
    assert pairs[0].standard == "My landlord wants more rent.\u2028What should I do?"
    assert len(pairs) == 2


# -- training files and labelled sets (read by `guiselab plan`) ---------------------------------

TRAINING = [
    Bad("train/not_json.jsonl", ":2", "not valid JSON"),
    Bad("train/not_object.jsonl", ":1", "must be a JSON object"),
    Bad("train/missing_field.jsonl", ":2", "field 'harmful' is missing"),
    Bad("train/wrong_type.jsonl", ":1", "field 'safe' is missing or not text"),
    Bad("train/messages_not_a_list.jsonl", ":1", "'messages' must be a list"),
    Bad("train/messages_wrong_roles.jsonl", ":1", "single-turn chat"),
    Bad("train/messages_content_not_text.jsonl", ":1", "field 'content'"),
    Bad("train/empty.jsonl", "", "holds no usable records"),
    Bad("train/nan.jsonl", ":1", "Infinity"),
    Bad("train/duplicate_id.jsonl", ":3", "duplicate id 'loan' (first on line 1)"),
    Bad("train/invalid_utf8.jsonl", ":2", "not UTF-8"),
    Bad("train/nul_byte.jsonl", ":2", "NUL byte"),
    Bad("train/duplicate_ids.jsonl", ":2", "duplicate id 'loan'", _lines(TRAIN)),
    Bad("train/huge_line.jsonl", ":2", "not valid JSON", _text(TRAIN + "\n{" + "x" * HUGE)),
    Bad("train/deep.jsonl", ":1", "nested too deeply", _text("[" * 100_000)),
    Bad("train/binary.jsonl", ANY_LINE, "not UTF-8", _binary),
    Bad("train/missing.jsonl", "", "training file not found", _nothing),
    Bad("train/symlink_loop.jsonl", "", "symbolic link loop", _symlink_loop),
]

LABELLED_SETS = [
    Bad("labelled/unknown_label.jsonl", ":2", "label 'evil' is not one of"),
    Bad("labelled/missing_field.jsonl", ":1", "['answer_vernacular']"),
    Bad("labelled/wrong_type.jsonl", ":2", "['answer']"),
    Bad("labelled/not_json.jsonl", ":2", "not valid JSON"),
    Bad("labelled/not_object.jsonl", ":1", "must be a JSON object"),
    Bad("labelled/empty.jsonl", "", "holds no answers"),
    Bad("labelled/one_scenario.jsonl", "", "needs at least 2"),
    Bad("labelled/duplicate_id.jsonl", ":3", "duplicate id 'loan-en-aligned'"),
    Bad("labelled/invalid_utf8.jsonl", ":2", "not UTF-8"),
    Bad("labelled/nul_byte.jsonl", ":2", "NUL byte"),
    Bad("labelled/duplicate_ids.jsonl", ":2", "duplicate id", _lines(LABELLED)),
    Bad("labelled/huge_line.jsonl", ":1", "not valid JSON", _text("[" + "1," * (HUGE // 2))),
    Bad("labelled/deep.jsonl", ":1", "nested too deeply", _text('{"a":' * 100_000)),
    Bad("labelled/binary.jsonl", ANY_LINE, "not UTF-8", _binary),
    Bad("labelled/missing.jsonl", "", "no such labelled set", _nothing),
    Bad("labelled/a_directory.jsonl", "", "is a directory", _directory),
]


def _toml_str(text: object) -> str:
    return f"'{text}'"  # a TOML literal string: paths need no escaping


def _config_naming(key: str) -> Callable[[Path], str]:
    """A config whose ``key`` names the file under test (an adapter through an organism)."""
    section, name = key.split(".")

    def text(path: Path) -> str:
        value = f"embedded:smollm2@adapter={path}" if key == "models.organism" else path
        shown = f"[{_toml_str(value)}]" if key == "pairs.files" else _toml_str(value)
        return f"[{section}]\n{name} = {shown}\n"

    return text


@pytest.mark.parametrize(
    ("case", "key"),
    [(c, "finetune.train_file") for c in TRAINING]
    + [(c, "judge.labelled_file") for c in LABELLED_SETS],
    ids=lambda v: v.name if isinstance(v, Bad) else v,
)
def test_plan_naming_a_bad_file_exits_2_naming_file_and_line(
    case: Bad, key: str, tmp_path: Path, run_cli: RunCli
) -> None:
    path = case.path(tmp_path)
    config = tmp_path / "exp.toml"
    config.write_text(_config_naming(key)(path), encoding="utf-8")
    code, _, err = run_cli("plan", str(config))
    _check_error(code, err, path, case)


def test_training_file_and_labelled_set_read_past_a_byte_order_mark() -> None:
    assert [q.id for q in load_training_file(BAD / "train" / "ok_bom.jsonl").questions] == [
        "loan",
        "crypto",
    ]
    assert [i.id for i in load_labelled(BAD / "labelled" / "ok_bom.jsonl")] == [
        "loan-en-aligned",
        "loan-en-misaligned",
        "crypto-en-aligned",
    ]


# -- configs, and the files a config points `guiselab run` at: none touches the run -------------

CONFIGS = [
    Bad("config/unknown_key.toml", "", "unknown key 'generation.sampels_per_prompt'"),
    Bad("config/unknown_section.toml", "", "unknown key 'genaration'"),
    Bad("config/wrong_type.toml", "", "key 'generation.max_new_tokens' = 'many'"),
    Bad("config/number_as_string.toml", "", "key 'generation.temperature' = '0.7'"),
    Bad("config/trust_remote_code_string.toml", "", "key 'models.trust_remote_code' = 'yes'"),
    Bad("config/float_for_int.toml", "", "key 'generation.samples_per_prompt' = 2.5"),
    Bad("config/string_for_list.toml", "", "key 'pairs.langs' = 'en'"),
    Bad("config/value_for_table.toml", "", "key 'models'"),
    Bad("config/out_of_range.toml", "", "greater than or equal to 1"),
    Bad("config/bad_choice.toml", "", "key 'models.dtype' = 'float8'"),
    Bad("config/invalid_syntax.toml", ":3", "not valid TOML"),
    Bad("config/duplicate_key.toml", ":3", "not valid TOML"),
    Bad("config/bom_invalid.toml", ":2", "not valid TOML"),
    Bad("config/unknown_preset.toml", "", "no preset named 'nosuch'"),
    Bad("config/preset_not_text.toml", "", "key 'preset' must be"),
    Bad("config/name_leaves_runs.toml", "", "a run name is"),
    Bad("config/name_with_newline.toml", "", "'two\\nlines'"),
    Bad("config/key_with_newline.toml", "", "unknown key 'two\\nlines'"),
    Bad("config/bad_model_ref.toml", "", "'nosuch-model' is not a model reference"),
    Bad("config/crossed_languages.toml", "", "finetune.lang is 'ru'"),
    Bad("config/invalid_utf8.toml", ":1", "not UTF-8"),
    Bad("config/nul_byte.toml", ":2", "NUL byte"),
    Bad("config/huge_value.toml", "", "a run name is", _huge_config_value),
    Bad("config/deep.toml", "", "nested too deeply", _text("a = " + "[" * 10_000)),
    Bad("config/binary.toml", ANY_LINE, "not UTF-8", _binary),
    Bad("config/missing.toml", "", "no such config file", _nothing),
    Bad("config/symlink_loop.toml", "", "symbolic link loop", _symlink_loop),
]


def _pickled_adapter(folder: Path, sentinel: Path) -> None:
    """A pickle that would create ``sentinel`` if anything unpickled it."""
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 1}')
    payload = pickle.dumps(_Opens(sentinel))
    (folder / "adapter_model.bin").write_bytes(payload)


class _Opens:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def _adapter_copy(name: str, change: Callable[[Path], None]) -> Callable[[Path], None]:
    """The committed adapter ``name`` copied, then changed."""

    def make(folder: Path) -> None:
        folder.mkdir()
        for part in (BAD / "adapters" / name).iterdir():
            (folder / part.name).write_bytes(part.read_bytes())
        change(folder)

    return make


def _loop_file(name: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to(name)

    return change


def _empty_dir(folder: Path) -> None:
    folder.mkdir()


def _a_file(path: Path) -> None:
    path.write_text("not a directory\n")


ADAPTERS = [
    Bad("adapters/pickle_only", "", "pickled adapters are refused"),
    Bad("adapters/pickle_with_config", "", "pickled adapters are refused"),
    Bad("adapters/corrupt_safetensors", "/adapter_model.safetensors", "not a readable"),
    Bad("adapters/truncated_safetensors", "/adapter_model.safetensors", "not a readable"),
    Bad("adapters/huge_header_length", "/adapter_model.safetensors", "not a readable"),
    Bad("adapters/no_tensors", "/adapter_model.safetensors", "holds no tensors"),
    Bad("adapters/no_config", "", "no adapter_config.json"),
    Bad("adapters/config_not_json", "/adapter_config.json", "not a PEFT adapter config"),
    Bad("adapters/config_without_peft_type", "/adapter_config.json", "'peft_type'"),
    Bad("adapters/missing", "", "does not exist", _nothing),
    Bad("adapters/empty", "", "no adapter_config.json", _empty_dir),
    Bad("adapters/a_file", "", "does not exist", _a_file),
    Bad("adapters/symlink_loop", "", "symbolic link loop", _symlink_loop),
    Bad(
        "adapters/weights_symlink_loop",
        "",
        "no adapter_model.safetensors",
        _adapter_copy("ok", _loop_file("adapter_model.safetensors")),
    ),
    Bad(
        "adapters/config_symlink_loop",
        "",
        "no adapter_config.json",
        _adapter_copy("ok", _loop_file("adapter_config.json")),
    ),
]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under ``folder``: its bytes and modification time."""
    out = {".": (b"", folder.stat().st_mtime_ns)}
    for path in sorted(folder.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        out[str(path.relative_to(folder))] = (data, path.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding a config and a store with a few answers."""
    run_dir = tmp_path_factory.mktemp("existing") / "run"
    with RunStore.in_dir(run_dir) as store:
        store.add_generations(
            Generation(
                key=f"key{i}",
                model="base",
                model_ref="embedded:smollm2",
                pair_id=f"p{i}",
                item=f"item{i}",
                lang="en",
                variety="aave",
                category=None,
                guise="standard",
                sample=0,
                seed=i,
                prompt="Hello?",
                response="Hi.",
                n_tokens=2,
                finish_reason="stop",
            )
            for i in range(3)
        )
    (run_dir / "config.toml").write_text(config_to_toml(load_config(None, "smoke")))
    return run_dir


def _run_against(run_dir: Path, config: Path, run_cli: RunCli) -> tuple[int, str]:
    before = _snapshot(run_dir)
    code, _, err = run_cli("run", str(config), "--out", str(run_dir), "--quiet")
    assert _snapshot(run_dir) == before, "the bad input changed the run directory"
    return code, err


@pytest.mark.parametrize("case", CONFIGS, ids=lambda c: c.name)
def test_bad_config_exits_2_and_leaves_the_run_alone(
    case: Bad, tmp_path: Path, existing_run: Path, run_cli: RunCli
) -> None:
    path = case.path(tmp_path)
    code, err = _run_against(existing_run, path, run_cli)
    _check_error(code, err, path, case)


RUN_READS = (
    [(c, "pairs.files") for c in PAIRS]
    + [(c, "models.organism") for c in ADAPTERS]
    + [(c, "finetune.train_file") for c in TRAINING]
    + [(c, "judge.labelled_file") for c in LABELLED_SETS]
)


@pytest.mark.parametrize(
    ("case", "key"), RUN_READS, ids=lambda v: v.name if isinstance(v, Bad) else v
)
def test_run_naming_a_bad_file_leaves_the_run_alone(
    case: Bad, key: str, tmp_path: Path, existing_run: Path, run_cli: RunCli
) -> None:
    path = case.path(tmp_path)
    config = tmp_path / "exp.toml"
    config.write_text(_config_naming(key)(path), encoding="utf-8")
    code, err = _run_against(existing_run, config, run_cli)
    _check_error(code, err, path, case)


def test_the_good_adapter_the_bad_ones_are_made_from_passes() -> None:
    assert len(adapter_sha256(BAD / "adapters" / "ok")) == 64


def test_existing_run_is_a_real_store(existing_run: Path) -> None:
    with sqlite3.connect(existing_run / "guiselab.sqlite") as db:
        assert db.execute("select count(*) from generations").fetchone() == (3,)


# -- hostile payloads: nothing they name is ever run ---------------------------------------------

YAML_PAYLOADS = {
    "os_system": '- !!python/object/apply:os.system ["touch {s}"]\n',
    "open": '- !!python/object/apply:builtins.open ["{s}", "w"]\n',
    "popen": '- !!python/object/new:subprocess.Popen [["touch", "{s}"]]\n',
    "in_a_field": "- item: rent\n  lang: en\n  variety: aave\n"
    '  standard: !!python/object/apply:os.system ["touch {s}"]\n  vernacular: y\n',
    "em_paraphrase": '- id: q\n  paraphrases: [!!python/object/apply:os.system ["touch {s}"]]\n',
}


@pytest.mark.parametrize("payload", list(YAML_PAYLOADS))
def test_yaml_tags_construct_nothing(
    payload: str, tmp_path: Path, existing_run: Path, run_cli: RunCli
) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / "pairs.yaml"
    path.write_text(YAML_PAYLOADS[payload].format(s=sentinel), encoding="utf-8")
    where = {"in_a_field": ":4", "em_paraphrase": ":2"}.get(payload, ":1")
    case = Bad(path.name, where, "YAML tag refused")
    code, _, err = run_cli("pairs", "validate", str(path), "--no-embeddings")
    _check_error(code, err, path, case)
    config = tmp_path / "exp.toml"
    config.write_text(f"[pairs]\nfiles = [{_toml_str(path)}]\n", encoding="utf-8")
    code, err = _run_against(existing_run, config, run_cli)
    _check_error(code, err, path, case)
    assert not sentinel.exists()


@pytest.mark.parametrize("weights", ["adapter_model.bin", "adapter_model.safetensors"])
def test_a_pickled_adapter_is_never_unpickled(
    weights: str, tmp_path: Path, existing_run: Path, run_cli: RunCli
) -> None:
    sentinel = tmp_path / "pwned"
    folder = tmp_path / "adapter"
    folder.mkdir()
    _pickled_adapter(folder, sentinel)
    (folder / "adapter_model.bin").rename(folder / weights)
    config = tmp_path / "exp.toml"
    ref = f"embedded:smollm2@adapter={folder}"
    config.write_text(f"[models]\norganism = {_toml_str(ref)}\n", encoding="utf-8")
    code, err = _run_against(existing_run, config, run_cli)
    where = "" if weights.endswith(".bin") else f"/{weights}"
    says = "pickled adapters are refused" if weights.endswith(".bin") else "not a readable"
    _check_error(code, err, folder, Bad(folder.name, where, says))
    assert not sentinel.exists()
