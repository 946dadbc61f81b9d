"""The ``[replication]`` section: the experiment in the other direction, in the same run."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from guiselab.config._section import Section

__all__ = ["MIRROR_DIR", "ReplicationConfig"]

MIRROR_DIR = "mirror"
"""The folder inside a run directory that holds the mirrored direction's own run."""


class ReplicationConfig(Section):
    """The replication in the other direction: a second organism and control trained in the
    target language and decided with source and target swapped."""

    mirror: bool = False
    """Also run the experiment the other way round: an organism and a control trained in the
    target language (conditioned on that language's variety of ``pairs.varieties``), asked
    the same pairs, with ``analysis.source_lang`` and ``target_lang`` swapped. It is a whole
    run of its own in the run directory's ``mirror/`` folder (own plan, own decision); the
    run's report sets the two decisions side by side. Its source-language gap is the positive
    control of the first direction's target language: a null there is not a deaf
    instrument if the mirrored organism shows its trained gap in that language."""
    finetune: dict[str, Any] = Field(default_factory=dict)
    """``[finetune]`` keys the mirrored training sets differently (e.g. ``max_length``, which
    Russian text needs longer, ``train_set``, ``train_file`` or ``variety``). The mirror
    trains in the target language (``lang``, ``seed`` and ``seeds`` cannot be set here), on
    that language's variety of ``pairs.varieties`` unless ``variety`` is given."""
    probe: bool = False
    """Run the probe stage in the mirrored direction too (it measures the mirrored organism)."""
