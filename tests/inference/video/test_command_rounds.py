"""samhq-video's correction rounds: a prompts file with "round": 2 entries writes, bit for bit, the
masks of the Python API doing the same (prompts, propagate forward and in reverse, correction
clicks on tracked frames, propagate both ways again), in both object modes; round 2 changes the
masks (a run without it differs). Independent objects (Meta 1.1.0) track corrected frames again,
so their round 2 also brings a new object."""

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video import VideoPredictor, command
from samhq_train.inference.video.prompts import read_prompts

from .test_command import write_prompts
from .test_parity_official import add_prompts

NEW_OBJECT = (1, 4, {"box": [10.0, 60.0, 50.0, 90.0]})


def round_two(official, objects: str) -> list:
    """The official fixture's corrections (clicks on tracked frames, one tracked in reverse),
    with independent objects also a new object."""
    return official["corrections"] + ([NEW_OBJECT] if objects == "independent" else [])


def write_rounds(folder, official, objects: str, rounds: int):
    """The official fixture's prompts as round 1, round_two as round 2 when rounds == 2."""
    path = write_prompts(folder, official["prompts"], (96, 128))
    entries = json.loads(path.read_text())
    if rounds == 2:
        later = [{"round": 2, "frame": f, "object": o, **p} for f, o, p in round_two(official,
                                                                                     objects)]
        entries = [*later[:1], *entries, *later[1:]]  # rounds need not be in order in the file
    path.write_text(json.dumps(entries))
    return path


def python_api_masks(model, frames, official, objects: str, rounds: int) -> dict[int, np.ndarray]:
    """The Python API sequence the command stands for: each frame's object ids of the last pass."""
    predictor = VideoPredictor(model, objects=objects)
    predictor.set_video(frames)
    prompt_sets = [official["prompts"], round_two(official, objects)][:rounds]
    ids = {}
    for prompts in prompt_sets:
        add_prompts(predictor, prompts, {}, "prompt")
        for reverse in (False, True):
            for frame, obj_ids, logits in predictor.propagate(reverse=reverse):
                ids[frame] = command.id_mask(obj_ids, logits)
    return ids


def command_masks(args, out) -> dict[int, np.ndarray]:
    assert command.main([*args, "--out", str(out), "--device", "cpu"]) == 0
    return {int(p.stem): np.array(Image.open(p)) for p in sorted(out.glob("*.png"))}


@pytest.mark.parametrize("objects", ["batched", "independent"])
def test_rounds_equal_the_python_api(objects, official, official_model, official_frames,
                                     hq_sam2_file, tmp_path, capsys):
    common = ["--frames", str(official_frames), "--checkpoint", str(hq_sam2_file),
              "--objects", objects]
    written = {}
    for rounds in (1, 2):
        folder = tmp_path / f"rounds{rounds}"
        folder.mkdir()
        prompts = write_rounds(folder, official, objects, rounds)
        written[rounds] = command_masks([*common, "--prompts", str(prompts)], folder / "masks")
        expected = python_api_masks(official_model, official_frames, official, objects, rounds)
        assert sorted(written[rounds]) == sorted(expected) == list(range(6))
        for frame, ids in expected.items():
            assert np.array_equal(written[rounds][frame], ids), (rounds, frame)
        found = set(np.unique(np.stack(list(expected.values()))))
        assert found == {0, 1, 2, 3} | ({4} if rounds == 2 and objects == "independent" else set())
    assert "(2 rounds)" in capsys.readouterr().out
    changed = [f for f in range(6) if not np.array_equal(written[1][f], written[2][f])]
    assert len(changed) >= 2, changed  # the corrections act, here and on other frames


def test_prompts_sorted_by_round_in_file_order(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([
        {"round": 2, "frame": 1, "object": 1, "points": [[5, 5]]},
        {"frame": 0, "object": 1, "points": [[1, 1]]},
        {"round": 3, "frame": 1, "object": 2, "box": [0, 0, 4, 4]},
        {"round": 2, "frame": 2, "object": 1, "points": [[2, 2]]},
        {"frame": 0, "object": 2, "points": [[3, 3]], "round": 1},
    ]))
    prompts = read_prompts(path, 3, (8, 8))
    assert [(p.round, p.frame, p.obj_id) for p in prompts] == [
        (1, 0, 1), (1, 0, 2), (2, 1, 1), (2, 2, 1), (3, 1, 2)]
    assert prompts[2].points == [[5, 5]] and prompts[3].points == [[2, 2]]
