"""Mutation audit 19: a prompts file's refusals name the first bad entry in the file's order
(read_prompts sorts the prompts by round; the rules are checked in the file's order, entries
named by their index, prompts.json[0] the first), also when the command checks the read (sorted)
prompts again once the model's family is known; a mask entry's index included."""

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video.prompts import PromptsFileError, check_rounds, read_prompts

HW = (6, 8)


def refusal(tmp_path, entries) -> str:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(PromptsFileError) as err:
        read_prompts(path, 4, HW, objects="batched", sam3=False)
    return str(err.value).removeprefix(str(path))


def test_the_first_bad_entry_in_the_files_order_is_named(tmp_path):
    # entries 0 and 1 both bring a new object after round 1: [0] comes first in the file, [1]
    # first by round
    assert refusal(tmp_path, [
        {"round": 3, "frame": 0, "object": 3, "points": [[1, 2]]},
        {"round": 2, "frame": 1, "object": 2, "points": [[1, 2]]},
        {"round": 1, "frame": 2, "object": 1, "points": [[1, 2]]},
    ]).startswith("[0]: object 3 first appears in round 3")


def test_a_mask_entry_is_named_by_its_index(tmp_path):
    Image.fromarray(np.ones(HW, np.uint8) * 255).save(tmp_path / "m.png")
    assert refusal(tmp_path, [
        {"round": 1, "frame": 2, "object": 1, "points": [[1, 2]]},
        {"round": 2, "frame": 0, "object": 2, "mask": "m.png"},
    ]).startswith("[1]: object 2 first appears in round 2")


def test_checked_again_once_the_family_is_known_the_first_in_the_file_is_named(tmp_path):
    # [0] and [1] both click again on frame 0, which round 1 conditions: [0] comes first in the
    # file, [1] first by round (read_prompts returns them sorted by round)
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([{"round": r, "frame": 0, "object": 1, "points": [[1, 2]]}
                                for r in (3, 2, 1)]))
    prompts = read_prompts(path, 4, HW, objects="batched", sam3=None)
    with pytest.raises(PromptsFileError, match=r"^p\.json\[0\]: frame 0 was prompted in round 1"):
        check_rounds(prompts, "p.json", "batched", sam3=False)
