"""The model to evaluate: a checkpoint in any format, or the seeded random demo backbone."""

from __future__ import annotations

from pathlib import Path

from samhq_train.model import (
    CheckpointError,
    LoadedCheckpoint,
    Provenance,
    build_sam_hq,
    load_checkpoint_with_provenance,
)


def load_model(
    checkpoint: str | Path | None = None,
    *,
    variant: str | None = None,
    base_checkpoint: str | Path | None = None,
    seed: int | None = None,
):
    """A checkpoint in any format ``load_checkpoint`` reads (``variant`` None: read from the file;
    given: it must match the file), or without one the seeded random backbone of ``variant``
    (the tiny demo model). Raises CheckpointError (a ValueError naming the file) on bad files."""
    return load_model_with_provenance(
        checkpoint, variant=variant, base_checkpoint=base_checkpoint, seed=seed
    ).model


def load_model_with_provenance(
    checkpoint: str | Path | None = None,
    *,
    variant: str | None = None,
    base_checkpoint: str | Path | None = None,
    seed: int | None = None,
) -> LoadedCheckpoint:
    """load_model, with the format the checkpoint was read as and its Provenance from that one
    read; the random backbone has format None and a record of its variant and seed."""
    if checkpoint is not None:
        return load_checkpoint_with_provenance(checkpoint, variant, base_checkpoint=base_checkpoint)
    if variant is None or seed is None:
        raise CheckpointError(
            "no weights to evaluate: pass model.checkpoint=/path/to/weights (official SAM or "
            "SAM-HQ .pth, transformers directory, .safetensors, an HQ-only file with "
            "base_checkpoint=, or a training .ckpt)"
        )
    model = build_sam_hq(variant, seed=int(seed))
    return LoadedCheckpoint(model, None, Provenance(variant=variant, seed=int(seed)))
