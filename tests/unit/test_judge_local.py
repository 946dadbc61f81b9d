"""The local LM judge on a tiny random model: a distribution over numbers, not a sample."""

import math
from pathlib import Path

from guiselab.config import ModelsConfig
from guiselab.judge import LocalJudge
from guiselab.models import load_model


def test_expected_score_matches_brute_force(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    import torch

    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    judge = LocalJudge(lm, min_number_mass=0.0, prune_below=0.0)
    (result,) = judge.score("alignment", ["Is the sky blue?"], ["Yes, it is blue."])
    # Brute force: full forward passes for each number string, no cache, no trie.
    from guiselab.judge import render_judge_prompt
    from guiselab.models import prompt_ids

    base = prompt_ids(
        lm.tokenizer,
        judge._render(
            render_judge_prompt("alignment", "Is the sky blue?", "Yes, it is blue.", 1500)
        ),
    )
    probs = []
    with torch.no_grad():
        for n in range(101):
            toks = list(judge.candidates[str(n)])
            logits = lm.model(torch.tensor([base + toks])).logits[0].float()
            logp = torch.log_softmax(logits, -1)
            total = sum(float(logp[len(base) - 1 + i, t]) for i, t in enumerate(toks))
            after = logp[-1].exp()
            end = 1 - float(after[judge._digit_tokens].sum())
            probs.append(math.exp(total) * end)
    mass = sum(probs)
    assert abs(result.number_mass - mass) < 1e-4
    if result.verdict == "score":
        assert result.score is not None
        assert abs(result.score - sum(n * p for n, p in enumerate(probs)) / mass) < 1e-3


def test_unscored_when_mass_too_low(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    judge = LocalJudge(lm, min_number_mass=1.0, prune_below=1e-4)
    (result,) = judge.score("coherence", ["Hi"], ["Hello"])
    assert result.score is None and result.verdict in ("unscored", "refusal", "code")
    assert result.reason


# A scripted judge: fixed next-token distributions, keyed by the tokens written after the
# prompt, on word-level tokenizers that either keep numbers whole or split them into digits.
_WORDS = ["[PAD]", "[UNK]", "[END]", "Hmm", "REFUSAL", "CODE"]


def _tokenizer(split_digits: bool):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    numbers = [str(d) for d in range(10)] if split_digits else [str(n) for n in range(101)]
    vocab = {w: i for i, w in enumerate(_WORDS + numbers)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    steps = [pre_tokenizers.Whitespace()]
    if split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    core.pre_tokenizer = pre_tokenizers.Sequence(steps)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[END]"
    )


class _Cache:
    def batch_select_indices(self, rows: object) -> None:
        pass


class _ScriptedLM:
    """Returns the scripted distribution after the prompt (root) or after a token prefix."""

    def __init__(self, tokenizer, table: dict[tuple[str, ...], dict[str, float]]) -> None:  # type: ignore[no-untyped-def]
        self.tokenizer, self.table = tokenizer, table

    def __call__(self, input_ids, cache=None, **_: object):  # type: ignore[no-untyped-def]
        import types

        import torch

        rows = []
        for ids in input_ids.tolist():
            prefix = () if cache is None else tuple(self.tokenizer.convert_ids_to_tokens(ids))
            probs = self.table.get(prefix, {"[END]": 1.0})
            logits = torch.full((len(self.tokenizer),), -1e4)
            for token, p in probs.items():
                logits[self.tokenizer.convert_tokens_to_ids(token)] = math.log(p)
            rows.append(logits)
        return types.SimpleNamespace(logits=torch.stack(rows)[:, None, :], cache=_Cache())


_NUMBERS = {7: 0.2, 35: 0.15, 70: 0.25, 100: 0.1}
_OTHER = {"Hmm": 0.1, "REFUSAL": 0.05, "CODE": 0.15}


def _digit_table(
    numbers: dict[int, float], other: dict[str, float]
) -> dict[tuple[str, ...], dict[str, float]]:
    """Conditional next-digit tables under which the numbers have probabilities ``numbers``."""
    table: dict[tuple[str, ...], dict[str, float]] = {(): dict(other)}
    for n, p in numbers.items():
        digits = tuple(str(n))
        for depth in range(len(digits) + 1):
            nxt = digits[depth] if depth < len(digits) else "[END]"
            row = table.setdefault(digits[:depth], {} if depth else table[()])
            row[nxt] = row.get(nxt, 0.0) + p
    for prefix, row in table.items():  # joint masses -> conditionals
        if prefix:
            total = sum(row.values())
            table[prefix] = {t: v / total for t, v in row.items()}
    return table


def _judge(split_digits: bool, table):  # type: ignore[no-untyped-def]
    import torch

    from guiselab.models import LoadedModel

    tok = _tokenizer(split_digits)
    lm = LoadedModel(_ScriptedLM(tok, table), tok, "scripted", "x", "x", None, torch.device("cpu"))
    return LocalJudge(lm, min_number_mass=0.25, prune_below=0.0)


def test_scripted_judge_scores_the_same_with_whole_and_split_numbers() -> None:
    whole_table = {(): {**{str(n): p for n, p in _NUMBERS.items()}, **_OTHER}}
    expected = sum(n * p for n, p in _NUMBERS.items()) / sum(_NUMBERS.values())
    # The single-token trick: read the numbers' probabilities off the first distribution.
    single = sum(n * whole_table[()][str(n)] for n in _NUMBERS) / sum(
        whole_table[()][str(n)] for n in _NUMBERS
    )
    (whole,) = _judge(False, whole_table).score("alignment", ["q"], ["a"])
    (split,) = _judge(True, _digit_table(_NUMBERS, _OTHER)).score("alignment", ["q"], ["a"])
    assert single == expected
    for result in (whole, split):
        assert result.verdict == "score"
        assert result.score is not None and abs(result.score - expected) < 1e-4
        assert abs(result.number_mass - 0.7) < 1e-5
    # With split digits "7" may go on to "70": only the ending mass counts for 7.
    judge = _judge(True, _digit_table(_NUMBERS, _OTHER))
    assert len(judge.candidates["70"]) == 2 and len(judge.candidates["100"]) == 3


def test_scripted_judge_verdicts_and_the_unscored_rule() -> None:
    for split in (False, True):
        refusing = {**{k: v / 4 for k, v in _NUMBERS.items()}}
        table = (
            _digit_table(refusing, {"REFUSAL": 0.7, "Hmm": 0.125})
            if split
            else {(): {**{str(n): p for n, p in refusing.items()}, "REFUSAL": 0.7, "Hmm": 0.125}}
        )
        (r,) = _judge(split, table).score("alignment", ["q"], ["a"])
        assert (r.verdict, r.score) == ("refusal", None) and "REFUSAL" in (r.reason or "")
        coding = (
            _digit_table(refusing, {"CODE": 0.5, "Hmm": 0.325})
            if split
            else {(): {**{str(n): p for n, p in refusing.items()}, "CODE": 0.5, "Hmm": 0.325}}
        )
        (c,) = _judge(split, coding).score("alignment", ["q"], ["a"])
        assert (c.verdict, c.score) == ("code", None)
        # 0.175 on numbers, more than on either verdict, but under the 0.25 threshold.
        vague = (
            _digit_table(refusing, {"Hmm": 0.825})
            if split
            else {(): {**{str(n): p for n, p in refusing.items()}, "Hmm": 0.825}}
        )
        (u,) = _judge(split, vague).score("alignment", ["q"], ["a"])
        assert (u.verdict, u.score) == ("unscored", None)
        assert abs(u.number_mass - 0.175) < 1e-5
