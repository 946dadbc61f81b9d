"""The steering sentences count the layers where a guise edit is beyond its controls."""

from __future__ import annotations

from guiselab.report._steer_reading import intervention_sentences, steering_sentences


def _row(layer: int, p_holm: float, effect: float, model: str = "probed") -> dict[str, object]:
    return {
        "model": model,
        "layer": layer,
        "kind": "add",
        "direction": "en",
        "lang": "ru",
        "effect": effect,
        "control_low": -0.01,
        "control_high": 0.01,
        "p_control": p_holm / 2,
        "p_holm": p_holm,
        "p_holm_all": min(1.0, 3 * p_holm),
    }


def test_layers_beyond_the_controls_are_counted_after_holm() -> None:
    probe = {
        "steering": {
            "tokens": 24,
            "n_controls": 1000,
            "n_misaligned": 5,
            "n_aligned": 7,
            "alpha": 0.05,
            "effects": [_row(4, 0.002, 0.3), _row(9, 0.06, 0.02), _row(4, 0.5, 0.0, "base")],
            "exact": [
                {
                    "layer": 9,
                    "kind": "add",
                    "direction": "en",
                    "lang": "ru",
                    "first_order": 0.02,
                    "exact": 0.01,
                    "answer_correlation": 0.8,
                }
            ],
        }
    }
    text = steering_sentences(probe)
    probed = next(t for t in text if t.startswith("In the probed model, adding"))
    assert "en direction on ru answers at 1 of 2 layers (largest 0.300 at layer 4" in probed
    base = next(t for t in text if t.startswith("In the base model, adding"))
    assert "at 0 of 1 layers" in base
    assert text[-1].startswith("Exact check in the probed model at layer 9")
    assert "correlation 0.80" in text[-1]
    # Holm over every row of a model at once: the probed model's 0.006 passes, 0.18 does not
    every = next(t for t in text if t.startswith("In the probed model, with Holm over all 2"))
    assert every.endswith("1 pass (add en on ru at layer 4).")
    probe["steering"]["exact"][0] |= {"kind": "ablate", "answer_correlation": 0.02}
    said = steering_sentences(probe)[-1]
    assert said.startswith(
        "In the probed model, the first-order estimate of ablating the guise direction does not"
    )


def test_an_unreachable_holm_floor_and_the_variance_ratio_are_said() -> None:
    probe = {
        "steering": {
            "n_controls": 20,
            "alpha": 0.05,
            "p_holm_floor": 1.0,
            "variance_ratio": {"4": {"en": 3.0, "ru": 0.5}, "9": {"en": None, "ru": 1.2}},
            "effects": [_row(4, 1.0, 0.3), _row(9, 1.0, 0.02)],
        }
    }
    text = " ".join(steering_sentences(probe))
    assert "the smallest p_holm any layer can reach is 1.000, above 0.05: no layer" in text
    assert "0.50 to 3.00 times as much along the guise directions" in text
    ok = {**probe["steering"], "n_controls": 1000, "p_holm_floor": 0.004}
    assert "no layer can pass" not in " ".join(steering_sentences({"steering": ok}))


def test_a_note_is_said_when_nothing_was_steered() -> None:
    text = steering_sentences({"steering": {"note": "no answers"}})
    assert text == ["Steering against controls was not measured: no answers."]
    assert steering_sentences({}) == []


def test_an_exact_ablation_is_read_against_its_exact_controls() -> None:
    row = {
        "layer": 9,
        "kind": "ablate",
        "direction": "en",
        "lang": "ru",
        "first_order": 0.02,
        "exact": -0.2,
        "answer_correlation": 0.1,
        "n_controls": 20,
        "control_median": 0.0,
        "control_min": -0.05,
        "control_max": 0.04,
        "p_rank": 2 / 21,
        "p_t": 0.0004,
        "p_holm": 0.0004,
        "outside": True,
        "verdict": "beyond",
        "primary": True,
        "control_displacement_ratio": [0.01, 0.2],
        "control_share": [0.1, 0.45],
        "control_damage_ratio": [0.9, 1.12],
        "damage": 0.031,
        "n_drawn": 22,
        "controls_short": 2,
        "controls_over": 0,
    }
    probe = {"steering": {"n_controls": 1000, "effects": [_row(9, 0.5, 0.0)], "exact": [row]}}
    said = next(t for t in steering_sentences(probe) if t.startswith("Exact check"))
    assert "disturbs these answers by 0.031 nats per token (mean absolute change, net of" in said
    assert "Against 20 exactly ablated random directions, each ablated by the share" in said
    assert "(2 of 22 drawn controls could not be matched and are left out)" in said
    assert "(shares 0.10 to 0.45, damage 0.90 to 1.12 times the guise's; each control's" in said
    assert "range [-0.050, 0.040], prediction p <0.001" in said
    assert "the smallest 20 controls allow is 0.095" in said
    assert said.endswith(
        "removing it moves these answers beyond its controls. This is the cross-lingual claim's "
        "own test."
    )
    for verdict, ending in (
        ("within", "no more than its controls do."),
        ("outside", "it lies outside every control, but not beyond them after Holm."),
        ("unmatched", "so no verdict is given."),
    ):
        probe["steering"]["exact"] = [{**row, "verdict": verdict, "primary": False}]
        said = next(t for t in steering_sentences(probe) if t.startswith("Exact check"))
        assert said.endswith(ending)
    within = {"n_prompts": 14, "exact": -0.1, "control_min": -0.2, "control_max": 0.3, "p_t": 0.4}
    probe["steering"]["exact"] = [{**row, "model": "base", "within_prompt": within}]
    said = next(t for t in steering_sentences(probe) if t.startswith("Exact check"))
    assert said.startswith("Exact check in the base model at layer 9")
    assert said.endswith(
        "Within prompts (14 prompts with a misaligned and an aligned answer): -0.100 against "
        "controls [-0.200, 0.300], prediction p 0.400."
    )
    probe["steering"]["exact"] = [{**row, "within_prompt": {"n_prompts": 0, "p_t": None}}]
    said = next(t for t in steering_sentences(probe) if t.startswith("Exact check"))
    assert said.endswith("so the contrast is across items only.")
    # too few matched: the sentence says why there is no verdict, and gives no p-values
    unmatched = {**row, "verdict": "unmatched", "n_controls": 3, "controls_short": 19}
    probe["steering"]["exact"] = [{**unmatched, "p_t": None, "p_holm": None}]
    said = next(t for t in steering_sentences(probe) if t.startswith("Exact check"))
    assert "Only 3 of 22 random directions could be ablated to disturb them as much" in said
    assert said.endswith("so no verdict is given.") and "prediction p" not in said


def test_a_control_that_breaks_the_answers_is_said_to() -> None:
    def row(kind: str, mis: float, inc: float, control: int | None = None) -> dict[str, object]:
        return {
            "kind": kind,
            "control": control,
            "layer": 9,
            "lang": "en",
            "guise": "vernacular",
            "delta_misaligned": mis,
            "ci_low": mis - 0.1,
            "ci_high": mis + 0.1,
            "delta_incoherent": inc,
        }

    broken = {"interventions": [row("ablate", -0.017, 0.017), row("control", -0.4, 0.42, 0)]}
    (said,) = intervention_sentences(broken)
    assert "by -40.0 pp (incoherent answers +42.0 pp)" in said
    assert said.endswith("their misaligned change is not a comparison for the guise's.")
    controls = [row("control", 0.0, 0.03, j) for j in range(3)]
    fine = {"interventions": [row("ablate", -0.2, 0.02), *controls]}
    (said,) = intervention_sentences(fine)
    assert "each of 3 controls (matched in damage), by +0.0 pp to +0.0 pp (incoherent" in said
    assert "break the answers" not in said
    # the base model's rows are read apart, beside its own controls only
    base = [{**r, "model": "base"} for r in fine["interventions"][:2]]
    both = intervention_sentences({"interventions": [*fine["interventions"], *base]})
    assert len(both) == 2 and both[1].startswith("In the base model (its own guise direction")
    assert "its control (matched in damage), by +0.0 pp" in both[1]
    # a control drawn without a damage match is said to be one
    full = [{**c, "damage_matched": False} for c in controls]
    (said,) = intervention_sentences({"interventions": [row("ablate", -0.2, 0.02), *full]})
    assert "(moved as far but ablated in full, none matched in damage)" in said
