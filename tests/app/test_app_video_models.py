"""The video page with other inputs: an HQ-SAM 3 file (masks equal VideoPredictor's, a click on a
prompted frame taken again as SAM 3's tracker does), the shipped SAM 3 demo base without video
parts (one line, exit 2), and the README's samhq-app --video command on a video file."""

from pathlib import Path

import pytest
import torch

from samhq_train.app import command
from samhq_train.inference.video import VideoPredictor
from samhq_train.model import build_sam_hq, load_checkpoint
from tests.documentation import ROOT, documented_commands
from tests.inference.video.test_video_file import write_video_file
from tests.reference import randomize_

from .conftest import write_video
from .test_app_video import run_app, session_of
from .video_reference import Direct, assert_same_masks

SAM3_DEMO_BASE = ROOT / "data" / "demo_base" / "sam3_hq_demo_base.pt"
COMMANDS = [c for c in documented_commands()
            if c.program in ("samhq-app", "python scripts/app.py") and "--video" in c.args
            and "--bpe" not in c.args]  # the text prompts' command: test_app_video_text.py


@pytest.fixture(scope="module")
def sam3_model():
    """tests/inference/video/test_sam3_video.py's HQ-SAM 3 miniature (objects present)."""
    model = randomize_(build_sam_hq("sam3_hq_demo", seed=0), seed=4, scale=0.05)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 4.0
    return model.eval()


def test_hq_sam3_masks_equal_the_predictors(sam3_model, tmp_path):
    """Both ways from frame 0 (SAM 3's reverse pass tracks frame 0 again), then a click on the
    prompted frame 0 (SAM 3 decodes it again) and forward."""
    frames = write_video(tmp_path / "frames", num_frames=3)
    session, direct = session_of(sam3_model, frames), Direct(sam3_model, frames)
    actions = [(0, 1, {"point": [30.0, 35.0, 1]}), (0, 2, {"box": [70.0, 40.0, 110.0, 80.0]}),
               "both", (0, 1, {"point": [40.0, 45.0, 0]}), "forward"]
    for n, action in enumerate(actions):
        if isinstance(action, str):
            session.propagate(action)
        else:
            session.click(*action)
        direct.run([action])
        assert_same_masks(session, direct, f"SAM 3, after action {n}")
    assert sorted(session.results) == [0, 1, 2]
    assert sum(int(m.sum()) for _, m in session.results.values()) > 0


@pytest.mark.skipif(not SAM3_DEMO_BASE.exists(), reason="the shipped SAM 3 demo base is absent")
def test_the_sam3_demo_base_has_no_video_parts(video_frames, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the frames were resized for the model")

    monkeypatch.setattr(VideoPredictor, "set_video", refuse)
    err = run_app([str(SAM3_DEMO_BASE), "--video", str(video_frames)], capsys)
    assert "no video parts" in err and "maskmem_backbone" in err, err


def test_the_readme_shows_the_video_command():
    assert len(COMMANDS) == 1
    assert COMMANDS[0].args[0] == "data/demo_base/sam2.1_hq_hiera_demo_base.pt"


def test_the_readme_video_command_runs(tmp_path, monkeypatch):
    """As written, with a stand-in clip.mp4 (the video tests' frames through OpenCV's writer): the
    server starts on the video page, and a click's masks equal VideoPredictor's on the file."""
    frames = write_video(tmp_path / "frames", num_frames=3, suffix=".png")
    clip = write_video_file(tmp_path / "clip.mp4", frames, "mp4v")
    args = [str(clip) if a == "clip.mp4" else a for a in COMMANDS[0].args]
    monkeypatch.chdir(ROOT)
    server = command.main([*args, "--port", "0", "--device", "cpu", "--out",
                           str(tmp_path / "out")], serve=False)
    try:
        session = server.RequestHandlerClass.app.video
        assert session.info()["frames"] == 3 and session.video.decoded[2] is not None
        session.click(1, 1, {"point": [30.0, 35.0, 1]})
        model = load_checkpoint(Path(args[0]))
        direct = Direct(model, clip, use_hq=False)  # the demo base: HQ parts untrained
        direct.click(1, 1, {"point": [30.0, 35.0, 1]})
        assert_same_masks(session, direct, "the README's command")
        image = session.frame_jpeg(2)
        assert image[:2] == b"\xff\xd8" and len(image) > 500
    finally:
        server.server_close()
