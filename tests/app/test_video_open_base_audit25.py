"""Mutation audit (round 25) of app/video_open.check_tracking_file: samhq-app --video with an
HQ-only SAM 3 file looks for the video parts in its --base, and refuses a base without them
before a model is built (audit 23's A1 / A2, the family and the missing-parts refusals, are
killed by tests/inference/video/test_checkpoint_parts.py)."""

import argparse

import pytest

from samhq_train.app.engine import AppError
from samhq_train.app.video_open import check_tracking_file
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.model.formats import load_checkpoint, save_checkpoint

SAM3_DEMO = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"  # image-only: no video parts


@pytest.mark.skipif(not SAM3_DEMO.exists(), reason="the SAM 3 demo base is absent")
def test_an_hq_only_files_base_without_video_parts_is_refused_naming_the_base(tmp_path):
    hq_only = save_checkpoint(load_checkpoint(SAM3_DEMO), tmp_path / "hq.safetensors", "hq_only")
    args = argparse.Namespace(checkpoint=str(hq_only), format=None, base=str(SAM3_DEMO))
    with pytest.raises(AppError) as refused:
        check_tracking_file(args)
    assert str(refused.value).startswith(f"--video: --base {SAM3_DEMO} ")
    check_tracking_file(argparse.Namespace(checkpoint=str(hq_only), format=None, base=None))
