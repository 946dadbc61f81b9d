"""Contrastive pairs: schema, loaders and the built-in corpus."""

from guiselab.pairs._load import builtin_pairs, load_pair_file, load_pairs, script_share
from guiselab.pairs._schema import GUISES, Guise, Pair
from guiselab.pairs._select import select_pairs

__all__ = [
    "GUISES",
    "Guise",
    "Pair",
    "builtin_pairs",
    "load_pair_file",
    "load_pairs",
    "script_share",
    "select_pairs",
]
