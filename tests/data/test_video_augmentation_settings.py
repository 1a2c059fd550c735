"""data.augmentation (the video run's MOSE clip augmentations): a value of the wrong type or range
is one line naming the full key and what it takes, for every field."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.video_transforms import ClipAugmentation
from samhq_train.errors import UserError
from samhq_train.training.video.config_checks import clip_augmentation


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("degrees", "abc", r"degrees=abc: expected a number in \[0, 180\]"),
        ("degrees", -1, r"degrees=-1: expected a number in \[0, 180\]"),
        ("shear", True, r"shear=true: expected a number in \[0, 180\]"),
        ("shear", [5], r"shear=\[5\]: expected a number in \[0, 180\]"),
        ("grayscale_prob", "often", r"grayscale_prob=often: expected a number in \[0, 1\]"),
        ("grayscale_prob", 2, r"grayscale_prob=2: expected a number in \[0, 1\]"),
        ("clip_jitter", 0.1, r"clip_jitter=0.1: expected three numbers >= 0 \(brightness"),
        ("clip_jitter", [0.1, "x", 0.1], r"clip_jitter=\[0.1, x, 0.1\]: expected three numbers"),
        ("frame_jitter", [0.1, -1, 0.1], r"frame_jitter=\[0.1, -1, 0.1\]: expected three numbers"),
        ("frame_jitter", {"a": 1}, r"frame_jitter=\{a: 1\}: expected three numbers >= 0"),
        ("fill", "grey", r"fill=grey: expected three numbers in \[0, 255\] \(the affine's RGB"),
        ("fill", [1, 2], r"fill=\[1, 2\]: expected three numbers in \[0, 255\]"),
        ("fill", [1, 2, 300], r"fill=\[1, 2, 300\]: expected three numbers in \[0, 255\]"),
    ],
)
def test_a_bad_augmentation_value_names_its_full_key(key, value, expected):
    data = OmegaConf.create({"augmentation": {key: value}})
    with pytest.raises(UserError, match=rf"^data\.augmentation\.{expected}") as caught:
        clip_augmentation(data)
    assert "\n" not in str(caught.value)


def test_good_values_pass_as_the_config_gives_them():
    data = OmegaConf.create({"augmentation": {"degrees": 10, "shear": 0.0, "fill": [0, 0, 0],
                                              "clip_jitter": [0, 0.5, 1], "grayscale_prob": 1}})
    aug = clip_augmentation(data)
    assert aug.degrees == 10 and list(aug.fill) == [0, 0, 0] and aug.grayscale_prob == 1
    assert ClipAugmentation() == ClipAugmentation(fill=(123, 116, 103))
