"""Samples -> one batch (the batch contract that the model's batch adapter and the loss read)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .prompts import PromptConfig, choose_prompt_types


def stack_images(images: Sequence[np.ndarray]) -> torch.Tensor:
    """S x S x 3 uint8 RGB images (the transforms' output) -> B x 3 x S x S uint8.

    uint8, a quarter of float32's bytes, is what travels to the device; the model's normalisation
    turns it into floats there, with the same values as a float batch would give.
    """
    out = np.empty((len(images), 3, *images[0].shape[:2]), np.uint8)
    for i, image in enumerate(images):  # numpy: no thread-pool cost in a busy main process
        if image.dtype != np.uint8:
            raise TypeError(
                f"model-frame images must be uint8 (transforms.Transformed), got {image.dtype}"
            )
        out[i] = image.transpose(2, 0, 1)
    return torch.from_numpy(out)


def batch_error(bad: Sequence[dict]) -> str:
    """The one line of a batch's bad samples ({"error": message, "hint": what else to do}): the
    first message, how many more the batch holds, then the first sample's hint."""
    more = f" (and {len(bad) - 1} more in this batch)" if len(bad) > 1 else ""
    hint = bad[0].get("hint")
    return f"{bad[0]['error']}{more}" + (f"; {hint}" if hint else "")


class Collate:
    """Samples -> one batch (S = the model's input side); picks the prompt types.

    image          B x 3 x S x S uint8, RGB, padded, not normalised (the model normalises, on
                   its device)
    mask           B x 1 x S x S float GT in the model frame, 0-255 (soft after resizing);
                   the loss target is mask / 255, prompts threshold it at > 128
    prompt_type    list of "box" | "point" | "noise_mask", one per sample
    boxes          B x 4 xyxy;  points B x N x 2 (x, y);  point_labels B x N (1 = positive)
    mask_input     B x 1 x S/4 x S/4, values 0 / 255 (the official noisy-mask prompt)
    gt_original    list of uint8 H_i x W_i tensors, the untouched GT for the metrics
    original_size, input_size   lists of (H_i, W_i) and of (h_i, w_i), the resized image in S x S
    content_size   with image: list of (h_i, w_i) from which the model zeroes the normalised
                   image (the official predictor's padding; (S, S): nothing), see Transformed
    name, dataset  lists of str
    features       with the embedding cache: {field: B x ...} the encoder's ImageFeatures tensors
                   (storage dtype); cached training batches then carry no image, gt_original
                   or original_size

    A sample {"error": ...} makes the batch {"error": one line} (batch_error; the loader raises
    it); samples {"skip": ...} (lenient evaluation only) are left out, and a batch of only those
    is None (the loader drops it; a DDP run's hands on an EmptiedBatch).
    """

    def __init__(self, prompts: PromptConfig, train: bool):
        self.prompts, self.train = prompts, train

    def __call__(self, samples: list[dict]) -> dict | None:
        bad = [s for s in samples if "error" in s]
        if bad:
            return {"error": batch_error(bad)}
        samples = [s for s in samples if "skip" not in s]
        if not samples:
            return None
        if self.train:
            types = choose_prompt_types(
                [s["type_draw"] for s in samples],
                [s["foreground_pixels"] for s in samples],
                self.prompts,
            )
        else:
            types = [self.prompts.eval_prompt] * len(samples)

        def stack(key):
            return torch.from_numpy(np.stack([s[key] for s in samples]))

        batch = {}
        if "image" in samples[0]:  # cached training samples carry features instead
            batch["image"] = stack_images([s["image"] for s in samples])
            batch["content_size"] = [s["content_size"] for s in samples]
        batch.update(
            {
                "mask": stack("mask")[:, None],
                "prompt_type": types,
                "boxes": stack("box"),
                "points": stack("points"),
                "point_labels": stack("point_labels"),
                "mask_input": stack("noise_mask")[:, None],
                "input_size": [s["input_size"] for s in samples],
                "name": [s["name"] for s in samples],
                "dataset": [s["dataset"] for s in samples],
            }
        )
        if "gt_original" in samples[0]:
            batch["gt_original"] = [torch.from_numpy(s["gt_original"]) for s in samples]
            batch["original_size"] = [s["original_size"] for s in samples]
        if "features" in samples[0]:
            batch["features"] = {
                k: torch.stack([s["features"][k] for s in samples]) for k in samples[0]["features"]
            }
        return batch
