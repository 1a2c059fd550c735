"""samhq-video --bf16: the model runs under bfloat16 autocast (asked of the tracker while it runs),
and its masks agree with fp32's on the official miniature within the README's bound: at most 0.5 %
of the pixels differ, IoU >= 0.95 for every object of 1000 pixels or more (measured: 0.11 %, IoU
0.999 and 0.971)."""

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.model.sam2.tracking import Sam2Tracker

from .test_command import write_prompts

MAX_DIFFERING = 0.005
MIN_IOU = 0.95
LARGE = 1000


@pytest.fixture
def autocast_seen(monkeypatch):
    """The bf16 autocast state at every frame encoding."""
    seen = []
    encode = Sam2Tracker.frame_features

    def spy(self, image):
        seen.append(torch.is_autocast_enabled("cpu")
                    and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return encode(self, image)

    monkeypatch.setattr(Sam2Tracker, "frame_features", spy)
    return seen


def test_bf16_masks_agree_with_fp32(official, official_frames, hq_sam2_file, tmp_path,
                                    autocast_seen):
    prompts = write_prompts(tmp_path, official["prompts"], (96, 128))
    ids = {}
    for bf16 in (False, True):
        out = tmp_path / f"bf16_{bf16}"
        assert command.main([
            "--frames", str(official_frames), "--prompts", str(prompts), "--checkpoint",
            str(hq_sam2_file), "--out", str(out), "--device", "cpu", *(["--bf16"] * bf16),
        ]) == 0
        ids[bf16] = np.stack([np.array(Image.open(p)) for p in sorted(out.glob("*.png"))])
        assert autocast_seen and set(autocast_seen) == {bf16}
        autocast_seen.clear()
    fp32, bf16 = ids[False], ids[True]
    assert (fp32 != bf16).mean() <= MAX_DIFFERING
    large = 0
    for obj in (1, 2, 3):
        if (fp32 == obj).sum() >= LARGE:
            large += 1
            iou = ((fp32 == obj) & (bf16 == obj)).sum() / ((fp32 == obj) | (bf16 == obj)).sum()
            assert iou >= MIN_IOU, (obj, iou)
    assert large == 2
