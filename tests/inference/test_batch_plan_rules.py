"""samhq-predict's plan and its failure summary without a model (mutation audit round 6): prompts
from --point alone are one prompt, the --max-pixels option sets the limit, inputs sharing a stem
get a note, only images with a prompt claim output files, and an unusable prompt makes the run
incomplete as an unreadable image does."""

import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header
from samhq_train.inference import batch_failures
from samhq_train.inference.batch_failures import (
    is_out_of_memory,
    memory_line,
    summary,
    unreadable_reason,
)
from samhq_train.inference.batch_plan import BatchOptions, BatchResult, plan, prompts_for


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMHQ_MAX_IMAGE_PIXELS", str(image_header.max_image_pixels()))
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "a.jpg", "b.png"):
        Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(folder / name)
    return folder  # the limit's environment variable is restored after the test


def test_points_alone_are_one_prompt(tmp_path):
    prompts = prompts_for(tmp_path / "x.png", BatchOptions(tmp_path, points=[[1, 2, 1]]))
    assert prompts.boxes is None and prompts.count == 1
    assert prompts_for(tmp_path / "x.png", BatchOptions(tmp_path)).count == 1


def test_the_plan_sets_the_pixel_limit_and_notes_shared_stems(images, tmp_path, capsys):
    before = image_header.max_image_pixels()
    try:
        found, _, stems = plan([str(images)], BatchOptions(tmp_path / "out", max_pixels=1234))
        assert image_header.max_image_pixels() == 1234
    finally:
        image_header.set_max_image_pixels(before)
    assert len(found) == 3 and len(set(stems.values())) == 3
    assert "note: 2 inputs share the stem 'a'" in capsys.readouterr().err


def test_images_without_a_prompt_claim_no_output(images, tmp_path):
    """A prompt folder without b.json: b gets no prompt, so b's files of an earlier run in --out
    are not in the way (a's are)."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "a.json").write_text('{"boxes": [[0, 0, 4, 4]]}')
    (images / "a.jpg").unlink()
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_overlay.png").write_bytes(b"old")
    _, planned, _ = plan([str(images)], BatchOptions(out, prompts=str(prompts)))
    assert planned[images / "b.png"].count == 0
    (out / "a_overlay.png").write_bytes(b"old")
    with pytest.raises(Exception, match="a_overlay.png"):
        plan([str(images)], BatchOptions(out, prompts=str(prompts)))


def test_unusable_prompts_make_the_run_incomplete():
    assert BatchResult().complete
    for counts in ({"unusable": 1}, {"unreadable": 2}, {"out_of_memory": 1}):
        assert not BatchResult(**counts).complete, counts
    line = summary(BatchResult(unreadable=2, out_of_memory=1, unusable=3), "out")
    assert line.startswith("error: 2 unreadable image(s) and 1 image(s) out of memory and 3 "
                           "unusable prompt(s), listed above; the masks of the others are in out")


def test_what_counts_as_out_of_memory():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: 8 GB"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_the_memory_line_names_the_size_even_over_the_pixel_limit(images, monkeypatch):
    image = images / "b.png"  # 8 x 6 pixels
    before = image_header.max_image_pixels()
    try:
        image_header.set_max_image_pixels(10)  # the image is over it
        line = memory_line(image, RuntimeError("CUDA out of memory"))
    finally:
        image_header.set_max_image_pixels(before)
    assert line.startswith(f"out of memory on image file {image} (8 x 6 pixels); free memory")


def test_running_out_of_memory_while_reading_is_not_unreadable(images, monkeypatch):
    """unreadable_reason says why an image cannot be read; memory running out is not that (the
    image is reported as out of memory where it is predicted)."""

    def no_memory(path, max_pixels=None):
        raise MemoryError

    monkeypatch.setattr(batch_failures, "load_image", no_memory)
    assert unreadable_reason(images / "b.png", BatchOptions(images)) is None
