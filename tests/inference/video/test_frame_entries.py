"""An entry named like a frame that is no regular file (a folder, a pipe, a broken link) among a
video's frames: samhq-video refuses it in one line naming it, before the model loads, instead of
skipping it (which would shift every later frame's index, and the prompts' frames with it)."""

import json
import os

import pytest

from samhq_train.inference.video import command

from .conftest import write_video


def _folder(path):
    path.mkdir()


def _pipe(path):
    os.mkfifo(path)


def _broken_link(path):
    path.symlink_to(path.parent / "gone.jpg")


@pytest.mark.parametrize(
    ("make", "named"),
    [(_folder, "a folder, not a file"), (_pipe, "not a regular file (a pipe or a device)"),
     (_broken_link, "a broken link")],
    ids=["folder", "fifo", "broken link"],
)
def test_a_frame_entry_that_is_no_file_is_refused_naming_it(tmp_path, capsys, make, named):
    frames = write_video(tmp_path / "frames", num_frames=3)
    odd = frames / "00001b.jpg"
    make(odd)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[20, 30]]}]))
    argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(tmp_path / "out"),
            "--checkpoint", "missing.pt"]  # refused before the checkpoint is looked at
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"error: {odd}: {named}") and "move it out" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("prompt", "named"),
    [({"points": [[20, 30], [129, 30]]}, "points [[20, 30], [129, 30]]: [129, 30] lies outside"),
     ({"points": [[20, -1]]}, "points [[20, -1]]: [20, -1] lies outside"),
     ({"box": [10, 10, 40, 97]}, "box [10, 10, 40, 97]: [40, 97] lies outside"),
     ({"points": [[float("nan"), 3]]}, "points [[nan, 3]]: [nan, 3] lies outside")],
    ids=["x past the width", "negative y", "box past the height", "NaN"],
)
def test_a_prompt_off_the_video_is_refused_naming_it(tmp_path, capsys, prompt, named):
    """The video is 128 x 96: a point or box corner beyond it (e.g. given in another
    resolution's pixels) is refused before the model loads; the edges themselves are on it."""
    frames = write_video(tmp_path / "frames", num_frames=2)
    prompts = tmp_path / "prompts.json"
    entries = [{"frame": 0, "object": 1, "points": [[0, 0], [128, 96]]},
               {"frame": 0, "object": 2, **prompt}]
    prompts.write_text(json.dumps(entries))
    argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(tmp_path / "out"),
            "--checkpoint", "missing.pt"]
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"error: {prompts}[1]: {named} the 128 x 96 video; "), err
