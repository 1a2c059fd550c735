"""The documented samhq-video commands run as written (on tiny stand-ins for the video, the
prompts and the two checkpoints they name), and its prompts example is a valid prompts file."""

import json
import re
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.inference.video.prompts import read_prompts
from samhq_train.model import save_checkpoint, without_hq
from tests.documentation import documented_commands, section

from .conftest import write_video
from .test_video_file import write_video_file

COMMANDS = [
    c for c in documented_commands() if c.program == "samhq-video" and "--text" not in c.text
]
# --text (a SAM 3 file with the detector): run in test_concept_tracking.py on its stand-ins; with
# --prompts (clicks after the text's run) in concept_video/test_command_concept_video.py
TEXT_COMMANDS = [
    c for c in documented_commands()
    if c.program == "samhq-video" and "--text" in c.text and "--prompts" not in c.text
]


@pytest.fixture(scope="module")
def stand_ins(official_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("video_stand_ins")
    hq = save_checkpoint(official_model, root / "sam2.1_hq_hiera_l.pt", "sam_hq")
    meta = root / "sam2.1_hiera_large.pt"  # Meta's layout: no HQ keys
    torch.save({"model": without_hq(official_model.state_dict())}, meta)
    prompts = root / "prompts.json"
    prompts.write_text(json.dumps([
        {"frame": 0, "object": 1, "points": [[30, 35]]},
        {"frame": 1, "object": 2, "box": [70, 40, 110, 80]},
    ]))
    video = write_video(root / "video", num_frames=3, suffix=".png")
    return {"video/": str(video), "video.mp4": str(write_video_file(root / "v.mp4", video, "mp4v")),
            "prompts.json": str(prompts), "sam2.1_hq_hiera_l.pt": str(hq),
            "sam2.1_hiera_large.pt": str(meta)}


def test_the_readme_shows_video_commands():
    assert len(COMMANDS) == 4 and len(TEXT_COMMANDS) == 4


@pytest.mark.parametrize("text", [c.text for c in COMMANDS])
def test_readme_video_command_runs(text, stand_ins, tmp_path):
    args = [stand_ins.get(a, a) for a in shlex.split(text)[1:]]
    args = [str(tmp_path / a) if a == "masks/" else a for a in args]
    assert command.main([*args, "--device", "cpu"]) == 0
    pngs = sorted(p.name for p in (tmp_path / "masks").glob("*.png"))
    assert pngs == ["00000.png", "00001.png", "00002.png"]
    assert (tmp_path / "masks" / "overlay").is_dir() == ("--overlay" in args)


def test_readme_prompts_example_is_valid(tmp_path):
    example = re.search(r"```json\n(.*?)```", section("Video (HQ-SAM 2)"), re.S).group(1)
    path = tmp_path / "prompts.json"
    path.write_text(example)
    Image.fromarray(np.zeros((240, 320), np.uint8)).save(tmp_path / "object3.png")
    prompts = read_prompts(path, num_frames=13, video_hw=(240, 320))
    assert [(p.round, p.frame, p.obj_id) for p in prompts] == [
        (1, 0, 1), (1, 0, 2), (1, 12, 1), (1, 5, 3), (2, 9, 2)]
    assert prompts[2].labels == [1] and prompts[3].mask.shape == (240, 320)
