"""Where a Lightning checkpoint keeps its fit loop's counters, read without Lightning: the check
stage decides from them whether a resume has training left, the interrupt handling marks an
interrupted validation in them to run again."""

from __future__ import annotations

# a checkpoint's in-fit validation counters, in loops["fit_loop"]
VAL_PROGRESS = "epoch_loop.val_loop.batch_progress"


def training_progress(checkpoint: dict) -> tuple[int, int, bool] | None:
    """(epochs trained, optimiser steps, whether a validation is to run again) from a Lightning
    checkpoint's loop counters, as Lightning's fit loop reads them when it decides that training
    is done; None when the checkpoint lacks them."""
    try:
        fit_loop = checkpoint["loops"]["fit_loop"]
        epochs = int(fit_loop["epoch_progress"]["current"]["processed"])
        steps = int(checkpoint["global_step"])
        validation = fit_loop.get(VAL_PROGRESS, {}).get("total", {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    # an interrupted.ckpt written inside a validation is marked to run it again (ready > completed)
    return epochs, steps, validation.get("ready", 0) > validation.get("completed", 0)
