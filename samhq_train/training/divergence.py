"""A diverging run stops at its first non-finite loss or gradient, in one line.

The SamHQModule calls these from its hooks: `check_loss` before backward (one isfinite over the
loss; under DDP the losses of all processes are summed first, so every process stops at the same
step; that all-reduce also tells them of a batch another process failed to load:
step_failures.py), `check_gradients` after backward and before the optimiser step (one fused
reduction over the gradients; gradients are already averaged over the processes there, so every
process decides alike; with gradient accumulation it runs once per optimiser step). Under fp16
mixed precision a non-finite gradient is the gradient scaler's business (it skips the step and
lowers the scale), so only the loss is checked there.

Both raise NonFiniteError (a UserError: one `error:` line, exit status 2) naming the epoch, step,
value (and parameters), and what to try. Checkpoints written before that step are untouched.
"""

from __future__ import annotations

import lightning as L
import torch

from samhq_train.finite import NonFiniteError, describe_non_finite, kind_of, non_finite_indices
from samhq_train.training.step_failures import sum_or_stop


def check_loss(trainer: L.Trainer, loss: torch.Tensor) -> None:
    """NonFiniteError if the loss of this step is NaN or inf on any process."""
    value = loss.detach()
    if trainer.world_size > 1:  # the step's all-reduce also says a batch failed to load
        value = sum_or_stop(value)
    if bool(torch.isfinite(value).all()):
        return
    own = loss.detach()
    where = "" if not bool(torch.isfinite(own).all()) else " on another process"
    raise NonFiniteError(
        f"training diverged at {_when(trainer)}: the loss is {kind_of(value)}{where}; "
        f"{advice(trainer)}"
    )


def check_gradients(trainer: L.Trainer, module: torch.nn.Module, optimizer) -> None:
    """NonFiniteError if a gradient `optimizer` is about to apply holds a NaN or inf (not under
    fp16 mixed precision, whose gradient scaler skips such steps). Parameter names (from
    `module`) are looked up only when one is found."""
    if getattr(trainer.precision_plugin, "scaler", None) is not None:
        return
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    bad = non_finite_indices([p.grad for p in params])
    if bad:
        names = {id(p): n for n, p in module.named_parameters()}
        grads = {names.get(id(params[i]), f"parameter {i}"): params[i].grad for i in bad}
        raise NonFiniteError(
            f"training diverged at {_when(trainer)}: the gradient of "
            f"{describe_non_finite(list(grads), grads)}; {advice(trainer)}"
        )


def advice(trainer: L.Trainer) -> str:
    """What to try, with the run's current settings."""
    lrs = sorted({g["lr"] for opt in trainer.optimizers for g in opt.param_groups})
    tries = ["lower optimizer.lr" + (f" (now {', '.join(f'{x:g}' for x in lrs)})" if lrs else "")]
    clip = trainer.gradient_clip_val
    tries.append(
        "set trainer.gradient_clip_val (e.g. 1.0)" if clip is None
        else f"lower trainer.gradient_clip_val (now {clip})"
    )
    if not str(trainer.precision).startswith(("32", "64")):
        tries.append(f"use trainer.precision=32 (now {trainer.precision})")
    return (
        "nothing was written at this step, earlier checkpoints are intact: "
        f"{', '.join(tries[:-1])} or {tries[-1]}, then run again"
    )


def _when(trainer: L.Trainer) -> str:
    return f"epoch {trainer.current_epoch}, step {trainer.global_step}"


__all__ = ["advice", "check_gradients", "check_loss"]
