"""Contrastive pairs: schema, loaders, the built-in corpus, guise transformers, validation."""

from guiselab.pairs._card import card_markdown
from guiselab.pairs._check import check_pairs
from guiselab.pairs._export import ExportFormat, export_pairs
from guiselab.pairs._features import CONTROL_VARIETIES
from guiselab.pairs._guise import GuiseResult, GuiseTransformer, Rule
from guiselab.pairs._load import builtin_pairs, load_pair_file, load_pairs, script_share
from guiselab.pairs._schema import GUISES, PROMPT_FIELDS, Guise, Pair
from guiselab.pairs._select import select_pairs
from guiselab.pairs._transform import TRANSFORMERS, make_pairs, transformer
from guiselab.pairs._validate import CorpusReport, PairCheck, corpus_report

__all__ = [
    "CONTROL_VARIETIES",
    "GUISES",
    "PROMPT_FIELDS",
    "TRANSFORMERS",
    "CorpusReport",
    "ExportFormat",
    "Guise",
    "GuiseResult",
    "GuiseTransformer",
    "Pair",
    "PairCheck",
    "Rule",
    "builtin_pairs",
    "card_markdown",
    "check_pairs",
    "corpus_report",
    "export_pairs",
    "load_pair_file",
    "load_pairs",
    "make_pairs",
    "script_share",
    "select_pairs",
    "transformer",
]
