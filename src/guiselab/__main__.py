"""``python -m guiselab`` runs the CLI."""

from guiselab.cli import main

main()
