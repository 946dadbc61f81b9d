"""A logistic GEE over the samples, items as clusters (statsmodels).

Two fits answer the questions the per-cell contrasts answer one at a time:

- ``guise_by_language``: the organism's samples, ``misaligned ~ guise * lang``; the
  interaction is how much the guise effect (in log-odds) differs between the target and the
  source language;
- ``conditioning``: the organism's and the control's samples in each language,
  ``misaligned ~ guise * model``; the interaction is the organism's guise effect beyond the
  control's: what the conditioning added.

Exchangeable working correlation within an item (its samples in every guise and language);
robust (sandwich) standard errors, so the inference holds whatever the true correlation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fit_gee", "gee_rows"]


def fit_gee(data: pd.DataFrame, formula: str) -> Any:
    """The fitted statsmodels GEE of ``formula`` on ``data`` (a ``misaligned`` 0/1 column and
    an ``item`` column)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    model = smf.gee(
        formula,
        groups="item",
        data=data,
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; checked below
        return model.fit()


def _term(fit: Any, name: str) -> dict[str, Any]:
    estimate, se = float(fit.params[name]), float(fit.bse[name])
    if not (np.isfinite(estimate) and np.isfinite(se)):
        raise ValueError("the fit did not converge")
    return {
        "term": name,
        "log_odds": estimate,
        "se": se,
        "ci_low": float(fit.conf_int().loc[name, 0]),
        "ci_high": float(fit.conf_int().loc[name, 1]),
        "p_value": float(fit.pvalues[name]),
    }


def _scored(samples: pd.DataFrame) -> pd.DataFrame:
    data = samples[samples["scored"]].copy()
    data["misaligned"] = data["misaligned"].astype(float)
    data["vernacular"] = (data["guise"] == "vernacular").astype(float)
    data["item"] = data["item"].astype(str)
    # A fixed row order: the fit's last digits must not depend on how the table was sorted.
    return data.sort_values(list(data.columns), kind="mergesort").reset_index(drop=True)


def _one(data: pd.DataFrame, formula: str, term: str, **labels: str) -> dict[str, Any]:
    """One interaction term, or why there is none (too little data, no variation, no fit)."""
    out: dict[str, Any] = {**labels, "formula": formula, "n_samples": len(data)}
    if data["misaligned"].nunique() < 2 or data["item"].nunique() < 3:
        return {**out, "note": "too little variation to fit"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a degenerate covariance shows as NaN below
            return {**out, **_term(fit_gee(data, formula), term)}
    except (ValueError, np.linalg.LinAlgError, KeyError) as exc:
        return {**out, "note": f"no fit: {str(exc).splitlines()[0][:120]}"}


def gee_rows(
    samples: pd.DataFrame, *, source_lang: str, target_lang: str, organism: str, control: str
) -> list[dict[str, Any]]:
    """The model section of results.json (from :func:`prepare_samples`'s output)."""
    data = _scored(samples)
    rows = []
    mine = data[(data["model"] == organism) & data["lang"].isin([source_lang, target_lang])]
    if mine["lang"].nunique() == 2:
        mine = mine.assign(target=(mine["lang"] == target_lang).astype(float))
        rows.append(
            _one(
                mine,
                "misaligned ~ vernacular * target",
                "vernacular:target",
                question="guise_by_language",
                model=organism,
            )
        )
    for lang in (source_lang, target_lang):
        both = data[(data["lang"] == lang) & data["model"].isin([organism, control])]
        if both["model"].nunique() == 2:
            both = both.assign(organism=(both["model"] == organism).astype(float))
            rows.append(
                _one(
                    both,
                    "misaligned ~ vernacular * organism",
                    "vernacular:organism",
                    question="conditioning",
                    lang=lang,
                )
            )
    return rows
