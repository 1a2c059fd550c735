"""The model to evaluate: a checkpoint in any format, or the seeded random demo backbone."""

from __future__ import annotations

from pathlib import Path

from samhq_train.model_from_config import build_model_from_config


def load_model(
    checkpoint: str | Path | None = None,
    *,
    variant: str | None = None,
    base_checkpoint: str | Path | None = None,
    seed: int | None = None,
):
    """A checkpoint in any format ``load_checkpoint`` reads (``variant`` None: read from the file;
    given: it must match the file), or without one the seeded random backbone of ``variant``
    (the tiny demo model). Raises CheckpointError (a UserError naming the file) on bad files.
    The evaluation command builds its model with the same function, from its config."""
    model_cfg = {"variant": variant, "checkpoint": checkpoint, "seed": seed}
    loaded = build_model_from_config(model_cfg, purpose="evaluate", base_checkpoint=base_checkpoint)
    return loaded.model
