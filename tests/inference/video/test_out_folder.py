"""samhq-video's --out when it already holds masks: one line naming the first frame's mask and
counting each file there once, exit 2, the files kept."""

import json

import pytest

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
