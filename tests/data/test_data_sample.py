"""The one sample recipe (samhq_train/data/sample.py): the empty-mask refusal and its message, the
redraw while the object vanishes, and the evaluation fallback to the object's area."""

import numpy as np
import pytest

from samhq_train.data import (
    MAX_TRIES,
    EmptyMaskError,
    PromptConfig,
    PromptedDataset,
    object_area_mask,
    object_mask,
    require_object,
    transformed_sample,
)
from samhq_train.data.transform_builders import build_eval_transform
from samhq_train.data.transforms import Transformed


def item(mask: np.ndarray, where: str = "gt/a.png") -> dict:
    image = np.zeros((*mask.shape, 3), np.uint8)
    return {"image": image, "mask": mask, "where": where, "name": "a", "dataset": "set"}


class LosesTheObject:
    """A pair transform whose first `misses` draws crop the object away."""

    def __init__(self, misses: int):
        self.misses, self.draws = misses, 0

    def __call__(self, image, mask):
        self.draws += 1
        out = mask.copy() if self.draws > self.misses else np.zeros_like(mask)
        return Transformed(image, out, mask.shape, mask.shape, np.zeros((0, 4)), np.zeros(0, int))


def test_an_empty_mask_is_refused_naming_the_file_and_its_peak():
    mask = np.full((8, 8), 128, np.uint8)  # at the threshold: not an object pixel
    with pytest.raises(EmptyMaskError, match=r"^gt/a\.png: empty mask .*max value 128"):
        object_mask(item(mask))
    mask[2, 3] = 129
    out = object_mask(item(mask))
    assert out.dtype == np.float32 and out[2, 3] == 129


def test_a_vanishing_object_is_drawn_again_up_to_the_tries():
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 255
    transform = LosesTheObject(misses=3)
    out = transformed_sample(item(mask), transform, tries=MAX_TRIES)
    assert transform.draws == 4 and out.mask.max() == 255
    require_object(out.mask, "gt/a.png")  # visible: no error
    # one draw (evaluation), or never visible: the last draw comes back, training refuses it
    for transform, tries in ((LosesTheObject(misses=3), 1), (LosesTheObject(misses=99), MAX_TRIES)):
        out = transformed_sample(item(mask), transform, tries=tries)
        assert transform.draws == tries and out.mask.max() == 0
        with pytest.raises(
            EmptyMaskError, match="gt/a.png: the object vanishes under augmentation"
        ):
            require_object(out.mask, "gt/a.png")


def test_evaluation_prompts_a_thin_object_from_its_area():
    """A one-pixel line vanishes under the bilinear downscale; its area average is still there and
    the evaluation sample's box comes from it, inside the line's scaled position."""
    mask = np.zeros((64, 64), np.uint8)
    mask[32, 8:56] = 255
    transform = build_eval_transform(16)
    out = transformed_sample(item(mask), transform)
    assert out.mask.max() <= 128
    area = object_area_mask(item(mask), out)
    assert area.shape == out.mask.shape and 0 < area.max() <= 255
    sample = PromptedDataset([item(mask)], transform, PromptConfig(), train=False, strict=True)[0]
    x0, y0, x1, y1 = sample["box"]
    assert 1 <= x0 < x1 <= 15 and 7 <= y0 <= y1 <= 9


def test_an_object_pixel_is_over_128():
    """The object rule of every sample is mask > 128: a soft mask whose peak is exactly 128 has
    no object left (training redraws or refuses it), 128.5 has one."""
    mask = np.zeros((8, 8), np.float32)
    mask[2:4, 2:4] = 128.0
    with pytest.raises(EmptyMaskError, match="vanishes"):
        require_object(mask, "gt/a.png")
    mask[3, 3] = 128.5
    require_object(mask, "gt/a.png")


def test_evaluation_prompts_are_drawn_per_seed_and_index():
    """Evaluation prompts are a function of (seed, index): the same index gives the same prompts
    again, another index (here the same image) or another seed draws anew."""
    mask = np.zeros((64, 64), np.uint8)
    mask[8:50, 10:60] = 255

    def points(seed, index):
        dataset = PromptedDataset(
            [item(mask)] * 3, build_eval_transform(64), PromptConfig(), train=False,
            strict=True, seed=seed,
        )
        return dataset[index]["points"]

    assert np.array_equal(points(0, 1), points(0, 1))
    assert not np.array_equal(points(0, 0), points(0, 1))
    assert not np.array_equal(points(0, 1), points(0, 2))
    assert not np.array_equal(points(0, 1), points(1, 1))
