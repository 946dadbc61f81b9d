"""The documented dialect features of the built-in varieties.

Every feature a built-in vernacular text lists is named here with a one-line description;
``docs/varieties.md`` describes each one with examples and references. A user corpus may list
features of its own: validation reports them as undocumented rather than failing.
"""

from __future__ import annotations

from guiselab.pairs._typos import TYPO_FEATURES as _TYPO_FEATURES

__all__ = ["CONTROL_VARIETIES", "FEATURES", "undocumented_features"]

_CASUAL = (
    "casual chat register of the standard variety: contractions, fillers and openers, loose "
    "punctuation; no dialect grammar or vocabulary"
)
CONTROL_VARIETIES: dict[str, str] = {
    "en-informal": "en",
    "ru-informal": "ru",
    "en-typos": "en",
    "ru-typos": "ru",
}
"""Guises that control for the trigger (informality, spelling noise), by language."""

FEATURES: dict[str, dict[str, str]] = {
    "aave": {
        "copula_deletion": "zero copula: 'he tired' for 'he is tired'",
        "habitual_be": "invariant be for habitual aspect: 'he be working' (he is usually working)",
        "negative_concord": "multiple negation: 'I don't have no money'",
        "aint": "ain't for isn't / aren't / haven't / hasn't / didn't",
        "completive_done": "completive done: 'I done told him' (I have already told him)",
        "third_person_s_absence": "no -s on third-person singular present verbs: 'she work'",
        "finna": "finna (fixing to) for an immediate future: 'I'm finna quit'",
        "existential_it": "existential it: 'it's a lot of people' for 'there are a lot of people'",
        "zero_possessive": "possessive without 's: 'my brother car'",
        "ion": "ion for I don't: 'ion know'",
        "future_gon": "gon / gonna future: 'what you gon do'",
        "stressed_been": "stressed BEEN for a state begun long ago: 'I been knew that'",
        "question_inversion": "no auxiliary inversion or do-support: 'what you want?'",
        "lexical": "vernacular vocabulary and contractions: y'all, tryna, wanna, gotta, fam, crib",
    },
    "ru-prostorechie": {
        "shchas": "щас for сейчас",
        "chyo": "чё for что",
        "ikhniy": "possessive adjective ихний / ихняя / ихнее / ихние for indeclinable их",
        "lozhit": "ложить (ложу, ложит) for класть",
        "tuta": "тута / тама for тут / там",
        "ekhay": "imperative ехай / ехайте for поезжай / езжайте",
        "khochut": "first-conjugation хочут / хочете / хочем for хотят / хотите / хотим",
        "odet_nadet": "одеть for надеть (put on clothing)",
        "reduced_forms": "colloquial reductions written as spoken: скока, када, тока, ваще, тыща",
        "particles": "vernacular particles: -то, ну, дык / дак, ваще-то, типа",
        "lexical": "vernacular vocabulary: бабки (money), мужик, пацан, батя, работка",
    },
    "ru-surzhyk": {
        "sho": "шо / шоб / шось for что / чтобы / что-то",
        "nema": "нема / немає for нет (there is no)",
        "ukr_lexical": "Ukrainian words in Russian speech: дуже (very), гроши (money), "
        "бачить (see), балакать (talk), хата (home), трохи (a little), нехай (let)",
        "ukr_morphology": "Ukrainian inflection mixed into Russian: 3sg without -т (вин робэ), "
        "1pl imperative -мо (пидэмо), Ukrainian case endings on Russian nouns",
        "ukr_phonetic_spelling": "Ukrainian pronunciation in the spelling: и for ы and "
        "unstressed е, хв for ф (хвакт), і / ї / є letters",
        "tak_particle": "та (and, but) and так / ото / ну та as discourse particles",
        "ukr_prepositions": "Ukrainian prepositions and government: до врача (к врачу), з (с), "
        "по + locative, за + instrumental",
    },
    # Control guises: not dialects, but the non-standard input a dialect also is.
    "en-informal": {"casual_register": _CASUAL},
    "ru-informal": {"casual_register": _CASUAL},
    "en-typos": _TYPO_FEATURES,
    "ru-typos": _TYPO_FEATURES,
}
"""variety → feature name → what the feature is."""


def undocumented_features(variety: str, features: tuple[str, ...]) -> list[str]:
    """The listed features that ``FEATURES`` does not document for ``variety``."""
    known = FEATURES.get(variety)
    if known is None:
        return []
    return [f for f in features if f not in known]
