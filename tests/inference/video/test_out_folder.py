"""samhq-video's --out when it already holds masks: one line naming the first frame's mask and
counting each file there once, exit 2, the files kept."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import command

from .conftest import write_video


def test_an_out_holding_masks_is_refused_counting_each_file_once(tmp_path, capsys):
    frames = write_video(tmp_path / "frames", num_frames=3)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("00002.png", "00000.png", "00001.png", "notes.txt"):
        (out / name).write_text("mine")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[20, 30]]}]))
    argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(out),
            "--checkpoint", "missing.pt"]
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"error: {out / '00000.png'} already exists (and 3 more): "), err
    assert all(p.read_text() == "mine" for p in out.iterdir())


def test_ctrl_c_while_tracking_is_one_line_and_keeps_whole_masks(
    hq_sam2_file, tmp_path, capsys, monkeypatch
):
    """Ctrl-C after the first frame's masks: exit 130 with one line counting the masks written
    (each written whole), not a traceback."""
    frames = write_video(tmp_path / "frames", num_frames=3)
    out = tmp_path / "out"
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[20, 30]]}]))

    def interrupted(predictor, rounds):
        yield 0, [1], torch.ones(1, 1, 96, 128)
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "tracked_frames", interrupted)
    argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(out),
            "--checkpoint", str(hq_sam2_file), "--device", "cpu"]
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 130 and err[-1] == (
        f"interrupted (SIGINT): 1 of 3 frames' masks written to {out}; run again with "
        "--overwrite to replace them"), err
    assert sorted(p.name for p in out.iterdir()) == ["00000.png"]
    assert np.array(Image.open(out / "00000.png")).tolist() == np.ones((96, 128)).tolist()
