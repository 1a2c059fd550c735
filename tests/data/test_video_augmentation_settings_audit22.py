"""Mutation audit 22 of ClipAugmentation's checks: the range ends are inclusive (180 degrees, a
grayscale probability of 1), a probability just over 1 and four values where three are taken
are refused naming the field."""

import pytest

from samhq_train.data.video_transforms import ClipAugmentation
from samhq_train.errors import UserError


def test_the_range_ends_are_taken():
    aug = ClipAugmentation(degrees=180, shear=180.0, grayscale_prob=1.0, fill=(255, 255, 255),
                           clip_jitter=(0, 0, 0))
    assert (aug.degrees, aug.shear, aug.grayscale_prob) == (180, 180.0, 1.0)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("degrees", 180.5, r"degrees=180.5: expected a number in \[0, 180\]"),
    ("shear", 181, r"shear=181: expected a number in \[0, 180\]"),
    ("grayscale_prob", 1.2, r"grayscale_prob=1.2: expected a number in \[0, 1\]"),
    ("fill", (1, 2, 3, 4), r"fill=.*expected three numbers in \[0, 255\]"),
    ("clip_jitter", (0.1, 0.1, 0.1, 0.1), r"clip_jitter=.*expected three numbers >= 0"),
    ("frame_jitter", (0.1, 0.1), r"frame_jitter=.*expected three numbers >= 0"),
])
def test_values_just_outside_are_refused(field, value, says):
    with pytest.raises(UserError, match=rf"^{says}"):
        ClipAugmentation(**{field: value})
