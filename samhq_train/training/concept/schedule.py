"""The learning-rate schedule of SAM 3's concept fine-tune, stepped as Meta's trainer steps it.

Meta's recipe gives every param group an InverseSquareRootParamScheduler (timescale 20, warmup 20,
cooldown 20) on its own base lr. Its trainer sets the lr before each optimiser step from the step
count and the run's fraction done ("where"), computed from the epoch and the batch index i of N:
exact_epoch = epoch + i / N, where = exact_epoch / epochs, step = int(exact_epoch * N). In floating
point that product sometimes lands just below the integer (N = 7, epoch 8, i = 5: 60.999...), so
the step handed to the scheduler is one less than the true count there; reproduced, so every
step's lr is theirs.

The formula at (step s, where w), relative to the base lr: the total T = s / w (1 at w = 0);
1 / sqrt((s + timescale - warmup) / timescale) once s > warmup; times min(1, s / warmup); times
min(1, (T - s) / cooldown). The first step thus has lr 0 (Meta also sets it at construction), the
lr rises linearly to the base at step `warmup`, decays as 1 / sqrt(step), and the last `cooldown`
steps ramp it down linearly to 1 / cooldown of that at the last step (never 0: the trainer skips
the update once where reaches 1, which happens only after the last step).
"""

from __future__ import annotations

import math
from collections.abc import Callable


def meta_step_and_where(step: int, steps_per_epoch: int, epochs: int) -> tuple[int, float]:
    """(step, where) as Meta's trainer passes them to its schedulers before optimiser step
    `step` (0-based, counted over the run) of `epochs` epochs of `steps_per_epoch` steps."""
    epoch, index = divmod(step, steps_per_epoch)
    exact_epoch = epoch + float(index) / steps_per_epoch
    return int(exact_epoch * steps_per_epoch), float(exact_epoch) / epochs


def inverse_sqrt_factor(step: int, where: float, *, timescale: int, warmup: int,
                        cooldown: int) -> float:
    """InverseSquareRootParamScheduler's value over its base lr at (step, where)."""
    total = step / where if where > 0 else 1
    factor = 1.0
    if warmup < step:
        factor /= math.sqrt((step + timescale - warmup) / timescale)
    if warmup:
        factor *= min(1.0, step / warmup)
    if cooldown:
        factor *= min(1.0, (total - step) / cooldown)
    return factor


def concept_lr_lambda(steps_per_epoch: int, epochs: int, *, timescale: int = 20,
                      warmup: int = 20, cooldown: int = 20) -> Callable[[int], float]:
    """The lr factor of optimiser step s (a LambdaLR's lr_lambda, stepped once per optimiser
    step). From the run's last step on the factor stays (Meta stops updating the lr when where
    reaches 1)."""
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(f"a schedule needs steps_per_epoch >= 1 and epochs >= 1, got "
                         f"{steps_per_epoch} and {epochs}")
    last = steps_per_epoch * epochs - 1

    def factor(step: int) -> float:
        meta_step, where = meta_step_and_where(min(step, last), steps_per_epoch, epochs)
        return inverse_sqrt_factor(meta_step, where, timescale=timescale, warmup=warmup,
                                   cooldown=cooldown)

    return factor
