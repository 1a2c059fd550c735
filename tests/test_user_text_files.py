"""A pipe (or a folder) given where a json or an annotation PNG is expected is refused in one
line naming it, before anything opens it: opening a pipe waits for a writer forever. Each
reader here reads its file through user_files.read_text / require_regular_file."""

import os
import threading

import pytest

from samhq_train.errors import UserError
from samhq_train.evaluation.coco_inputs import read_coco_inputs
from samhq_train.evaluation.saco_metrics import read_saco_gt
from samhq_train.image_header import ImageFileError
from samhq_train.inference.prompt_file import read_prompt_file
from samhq_train.inference.video.concept_video.command_run import read_settings
from samhq_train.inference.video.prompts import read_prompts
from samhq_train.mask_png import read_mask_png
from samhq_train.user_files import NotAFileError, read_text

GT = '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}'


def _readers(tmp_path):
    gt, dets = tmp_path / "gt.json", tmp_path / "dets.json"
    gt.write_text(GT)
    dets.write_text("[]")
    return {
        "prompt-file": lambda p: read_prompt_file(p),
        "coco-gt": lambda p: read_coco_inputs(p, tmp_path, dets),
        "coco-detections": lambda p: read_coco_inputs(gt, tmp_path, p),
        "saco-gt": lambda p: read_saco_gt(p),
        "video-prompts": lambda p: read_prompts(p, num_frames=2, video_hw=(8, 8)),
        "concept-settings": lambda p: read_settings(str(p), 0.5),
        "mask-png": lambda p: read_mask_png(p),
    }


def _answer(read, pipe, seconds: float = 20.0):
    """What read(pipe) raised, or None when it did not answer in time (then the pipe is opened
    for writing and closed, so the waiting reader gets an end of file and its thread ends)."""
    box = {}

    def target():
        try:
            read(pipe)
        except BaseException as err:  # noqa: BLE001 (the test looks at what was raised)
            box["err"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        return None
    return box.get("err")


@pytest.mark.parametrize(
    "reader",
    ["prompt-file", "coco-gt", "coco-detections", "saco-gt", "video-prompts",
     "concept-settings", "mask-png"],
)
def test_a_pipe_given_as_a_file_is_refused_in_one_line_without_waiting(tmp_path, reader):
    """Mutant: the reader opening the path unchecked (it waits for a writer: no answer)."""
    pipe = tmp_path / ("masks.png" if reader == "mask-png" else "input.json")
    os.mkfifo(pipe)
    err = _answer(_readers(tmp_path)[reader], pipe)
    assert err is not None, f"{reader} waited on the pipe"
    assert isinstance(err, (UserError, ImageFileError)), repr(err)
    message = str(err)
    assert str(pipe) in message and "not a regular file (a pipe or a device)" in message, message
    assert "\n" not in message


def test_read_text_refuses_a_folder_and_a_pipe_and_reads_a_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(NotAFileError, match=r"^not a regular file \(a pipe or a device\)$"):
        read_text(tmp_path / "pipe")
    with pytest.raises(NotAFileError, match="^a folder, not a file$"):
        read_text(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text("[1]")
    assert read_text(tmp_path / "a.json") == "[1]"
