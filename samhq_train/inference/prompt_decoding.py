"""One image's prompts decoded for samhq-predict: boxes in chunks whose full-size logits stay
within a byte budget, SAM's best-scored mask per box under --multimask, and the prompts the
predictor refuses (a box outside the image, a bad point label) left out with a line each."""

from __future__ import annotations

import numpy as np

from samhq_train.inference.batch_plan import BatchOptions
from samhq_train.inference.predictor import PromptError, SamHQPredictor
from samhq_train.inference.prompt_file import ImagePrompts


def decode_in_chunks(
    predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions, mask_budget: int
):
    """Masks K x H x W (bool) and scores K for the prompts; the boxes as batches small enough
    that their full-size float32 logits stay within `mask_budget` bytes. PromptError when the
    predictor refuses one."""
    points = prompts.points
    height, width = predictor.original_size
    per_call = max(1, mask_budget // (4 * height * width))
    boxes = prompts.boxes
    chunks = (
        [None]
        if boxes is None
        else [boxes[i : i + per_call] for i in range(0, len(boxes), per_call)]
    )
    masks, scores = [], []
    for chunk in chunks:
        m, score, _ = predictor.predict(
            point_coords=None if points is None else points[:, :2],
            point_labels=None if points is None else points[:, 2],
            box=chunk,  # B x 4: one mask per box
            multimask_output=options.multimask,
            hq_token_only=options.hq_token_only,
            use_hq=options.use_hq,
            fill_hole_area=options.fill_hole_area,
        )
        if options.multimask and m.shape[-3] > 1:  # SAM 1's HQ decoder picks one itself
            m, score = best_scored(m, score)
        masks.append(m.reshape(-1, *m.shape[-2:]))
        scores.append(score.reshape(-1))
    if len(masks) == 1:
        return masks[0], scores[0]
    return np.concatenate(masks), np.concatenate(scores)


def best_scored(masks: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best-scored of SAM's multimask masks per prompt (plain SAM, or HQ-SAM 2 / 3, whose HQ
    mask is added to each of SAM's: the one SAM 1's HQ decoder picks itself): masks ... x M x H x W,
    scores ... x M -> ... x 1 x H x W, ... x 1."""
    best = scores.argmax(axis=-1)[..., None]
    return np.take_along_axis(masks, best[..., None, None], axis=-3), np.take_along_axis(
        scores, best, axis=-1
    )


def refusal(
    predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions, mask_budget: int
) -> str | None:
    """Why the predictor refuses these prompts, or None."""
    try:
        decode_in_chunks(predictor, prompts, options, mask_budget)
    except PromptError as err:
        return str(err)
    return None


def decode_usable(
    predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions, mask_budget: int
):
    """(the prompts the predictor takes or None, their masks, scores) and a line for each prompt it
    refuses (its checks need the image: a box outside it, a point label). The points are checked
    on their own first: every box holds them."""
    try:
        return (prompts, *decode_in_chunks(predictor, prompts, options, mask_budget)), []
    except PromptError as err:
        if prompts.boxes is None:
            return (None, None, None), [prompts.where("points") + str(err)]
    points_only = ImagePrompts(None, prompts.points)
    if prompts.points is not None and (
        why := refusal(predictor, points_only, options, mask_budget)
    ):
        return (None, None, None), [prompts.where("points") + why]
    keep, problems = [], []
    for i, box_id in enumerate(prompts.box_ids):
        why = refusal(predictor, prompts.select([i]), options, mask_budget)
        if why is None:
            keep.append(i)
        else:
            problems.append(prompts.where(f"boxes[{box_id}]") + why)
    if not keep:
        return (None, None, None), problems
    kept = prompts.select(keep)
    return (kept, *decode_in_chunks(predictor, kept, options, mask_budget)), problems
