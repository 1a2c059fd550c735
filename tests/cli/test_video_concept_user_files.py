"""samhq-video-concept-eval --masks on a user's own folders: a frame saved as JPEG, a PNG value
concept.json does not list (its pixels were dropped unseen), a missing concept.json. Each is one
error line (exit 2) naming the file and what to do."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_concept_eval
from tests.evaluation.concept_video_data import write_veval_files


def _first_frame(files) -> tuple:
    folder = sorted(p for p in files["masks"].glob("*/*") if p.is_dir())[0]
    return folder, sorted(folder.glob("*.png"))[0]


def _jpeg(folder, frame):
    Image.open(frame).convert("L").save(frame.with_suffix(".jpg"))
    frame.unlink()


def _unlisted_value(folder, frame):
    image = Image.open(frame)
    values = np.array(image)
    values[:2, :2] = 77
    spoiled = Image.fromarray(values, "P")
    spoiled.putpalette(image.getpalette())
    spoiled.save(frame)


def _no_concept_json(folder, frame):
    (folder / "concept.json").unlink()


CASES = {
    "frame saved as JPEG": (_jpeg, "00000.png: missing; the folder has 00000.jpg: JPEG "
                            "compression changes pixel values"),
    "value concept.json lacks": (_unlisted_value, "00000.png: value 77 is no object of "),
    "no concept.json": (_no_concept_json, "concept.json: no such file; samhq-video --text "),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_masks_folders_a_user_spoiled_are_one_line(tmp_path, case, capsys):
    files = write_veval_files(tmp_path / "veval")
    spoil, expected = CASES[case]
    spoil(*_first_frame(files))
    with pytest.raises(SystemExit) as exit_info:
        video_concept_eval.main(["--gt", str(files["gt"]), "--masks", str(files["masks"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert expected in err[0]
