"""samhq-video's prompts file, read without a model (mutation audit round 6): which later rounds
each predictor takes (the module docstring of inference/video/prompts.py, the official predictors'
rules), spelled out case by case for batched and independent objects and for a SAM 2.1, a SAM 3 or
a not yet known model (sam3=None), and the entry checks at their limits."""

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video.prompts import PromptsFileError, check_rounds, read_prompts

HW = (6, 8)  # the video's height, width


def entry(frame: int, obj: int, round_: int = 1, **fields) -> dict:
    return {"round": round_, "frame": frame, "object": obj, "points": [[1, 2]], **fields}


def read(tmp_path, entries, num_frames: int = 4, **kwargs):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(entries))
    return read_prompts(path, num_frames, HW, **kwargs)


def refusal(tmp_path, entries, **kwargs) -> str:
    with pytest.raises(PromptsFileError) as err:
        read(tmp_path, entries, **kwargs)
    return str(err.value)


# (entries, objects, {sam3: None when taken, else the refusal's tail after "<path>" ("[N]: ...")})
CASES = {
    "batched: a new object in round 2": (
        [entry(0, 1), entry(2, 2, 2)], "batched",
        dict.fromkeys((False, True, None), "[1]: object 2 first appears in round 2: batched "
                      "objects (the official rule) are prompted in round 1 first; add it to "
                      "round 1, or use --objects independent"),
    ),
    "batched: round 2 clicks another object's round-1 frame": (
        [entry(0, 1), entry(2, 2), entry(2, 1, 2)], "batched",
        {False: "[2]: frame 2 was prompted in round 1 and keeps those masks (the official "
                "rule); put these clicks in round 1's prompt there, or click on another frame",
         True: None, None: None},
    ),
    "batched: round 2 clicks a tracked frame": (
        [entry(0, 1), entry(0, 2), entry(3, 1, 2), entry(1, 2, 2)], "batched",
        dict.fromkeys((False, True, None)),
    ),
    "independent: a new object on another object's round-1 frame": (
        [entry(0, 1), entry(0, 2, 2)], "independent", dict.fromkeys((False, None)),
    ),
    "independent: round 2 clicks the object's own round-1 frame": (
        [entry(0, 1), entry(2, 2), entry(0, 1, 2)], "independent",
        dict.fromkeys((False, None), "[2]: frame 0 was prompted in round 1 and keeps those "
                      "masks (the official rule); put these clicks in round 1's prompt there, "
                      "or click on another frame"),
    ),
    "independent: round 3 clicks the frame where the object first appeared in round 2": (
        [entry(0, 1), entry(1, 2, 2), entry(1, 2, 3)], "independent",
        dict.fromkeys((False, None), "[2]: frame 1 was prompted in round 2 and keeps those "
                      "masks (the official rule); put these clicks in round 2's prompt there, "
                      "or click on another frame"),
    ),
    "independent: round 3 clicks a frame of the object's own, not its first, round": (
        [entry(0, 1), entry(1, 1, 2), entry(1, 1, 3)], "independent",
        dict.fromkeys((False, None)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_which_later_rounds_are_taken(case, tmp_path):
    entries, objects, outcomes = CASES[case]
    for sam3, expected in outcomes.items():
        if expected is None:
            prompts = read(tmp_path, entries, objects=objects, sam3=sam3)
            assert len(prompts) == len(entries), (sam3, prompts)
        else:
            message = refusal(tmp_path, entries, objects=objects, sam3=sam3)
            assert message == f"{tmp_path / 'prompts.json'}{expected}", (sam3, message)


def test_check_rounds_again_once_the_family_is_known(tmp_path):
    """What read_prompts let through with sam3=None is refused for SAM 2.1 (the command checks
    again after loading) and taken for SAM 3."""
    entries = [entry(0, 1), entry(2, 2), entry(2, 1, 2)]
    prompts = read(tmp_path, entries, objects="batched", sam3=None)
    check_rounds(prompts, "p.json", "batched", sam3=True)
    with pytest.raises(PromptsFileError, match=r"^p\.json\[2\]: frame 2 was prompted in round 1"):
        check_rounds(prompts, "p.json", "batched", sam3=False)


def test_rounds_sort_stably_in_file_order(tmp_path):
    """By round only: within a round the file's order, whatever the frames."""
    prompts = read(tmp_path, [entry(3, 1, 2), entry(0, 1), entry(1, 1, 2), entry(2, 1, 2)])
    assert [(p.round, p.frame) for p in prompts] == [(1, 0), (2, 3), (2, 1), (2, 2)]


def test_round_and_values_are_kept_on_each_kind_of_prompt(tmp_path):
    Image.fromarray(np.eye(*HW, dtype=np.uint8)).save(tmp_path / "m.png")  # values 0 and 1
    prompts = read(tmp_path, [
        {"frame": 0, "object": 1, "box": [0, 0, 4, 4]},
        {"round": 2, "frame": 1, "object": 1, "mask": "m.png"},
        {"round": 2, "frame": 2, "object": 1, "box": [1, 1, 3, 3], "points": [[2, 2]],
         "labels": [0]},
    ])
    assert [p.round for p in prompts] == [1, 2, 2]
    assert prompts[1].mask.dtype == bool and np.array_equal(prompts[1].mask, np.eye(*HW) > 0)
    assert prompts[2].box == [1, 1, 3, 3] and prompts[2].labels == [0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"points": [[1, 2, 3]]}, "'points' must be a list of [x, y] pairs"),
        ({"points": [[True, 2]]}, "'points' must be a list of [x, y] pairs"),
        ({"points": None, "box": [True, 0, 4, 4]}, "'box' must be [x0, y0, x1, y1]"),
        ({"labels": [False]}, "'labels' must be one 1 or 0 per point"),
        ({"frame": 4}, "frame 4 does not exist (the video has frames 0 to 3)"),
        ({"frame": -1}, "frame -1 does not exist (the video has frames 0 to 3)"),
        ({"object": 256}, "object id 256 does not exist (use 1 to 255)"),
        ({"round": False}, "'round' must be 1, 2, 3, ... (1 when left out), not False"),
    ],
)
def test_entries_refused_at_the_limits(fields, message, tmp_path):
    fields = {k: v for k, v in {**entry(0, 1), **fields}.items() if v is not None}
    assert refusal(tmp_path, [fields]) == f"{tmp_path / 'prompts.json'}[0]: {message}"


def test_the_last_frame_and_object_255_exist(tmp_path):
    prompts = read(tmp_path, [entry(3, 255)])
    assert (prompts[0].frame, prompts[0].obj_id, prompts[0].round) == (3, 255, 1)


def test_a_transposed_mask_is_refused(tmp_path):
    Image.fromarray(np.ones(HW[::-1], np.uint8)).save(tmp_path / "m.png")
    message = refusal(tmp_path, [{"frame": 0, "object": 1, "mask": "m.png"}])
    assert message.endswith("m.png is 6x8, the video 8x6: give a mask of the video's size")


def test_check_rounds_names_the_files_entry_after_the_sort_by_round(tmp_path):
    """The command checks the rounds again on read_prompts' list, sorted by round: the line
    names the entry's index in the file (it named its place in the sorted list)."""
    entries = [entry(2, 1, 2), entry(0, 1), entry(2, 2)]  # round 2's click first in the file
    prompts = read(tmp_path, entries, objects="batched", sam3=None)
    assert [p.round for p in prompts] == [1, 1, 2]
    with pytest.raises(PromptsFileError, match=r"^p\.json\[0\]: frame 2 was prompted in round 1"):
        check_rounds(prompts, "p.json", "batched", sam3=False)
