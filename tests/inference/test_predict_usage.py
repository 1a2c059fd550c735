"""samhq-predict as people use it: the pixel limit read from the header, memory failures, EXIF
notes, the listing kept through a full disk, subfolders, reruns, numbered colour-blind-safe
overlays, the labelled score, broken images under --prompts; the evaluation overlay's prompt."""

import errno
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train import drawing, imaging
from samhq_train.cli import predict as predict_command
from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.files import DiskFullError, disk_full_message
from samhq_train.inference import (
    ImageReadError,
    SamHQPredictor,
    batch_predict,
    load_image,
    predict_files,
)
from samhq_train.model import build_sam_hq, save_checkpoint


@pytest.fixture(autouse=True)
def pixel_limit_restored(monkeypatch):
    """The pixel limit is process state (environment, PIL, the setting's name): put it back."""
    monkeypatch.delenv(imaging.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(imaging, "_limit_setting", imaging._limit_setting)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("usage")
    model = build_sam_hq("vit_demo", seed=0)
    return save_checkpoint(model, root / "tiny.safetensors", "safetensors")


def write_image(path: Path, shape=(60, 80), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says width x height, with no pixel data (a decoder would fail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def run(argv, capsys):
    """(exit status, stdout, stderr) of samhq-predict."""
    capsys.readouterr()
    try:
        predict_command.main([*map(str, argv), "--device", "cpu"])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


# ---- 1. the pixel limit, from the header --------------------------------------------------------


def test_pixel_limit_is_read_from_the_header_before_decoding(tmp_path, monkeypatch):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(imaging.ImageTooLargeError, match=r"bomb.png is 20000 x 20000 = "
                       r"400,000,000 pixels, over the pixel limit of 100,000,000 \(100 MP\); "
                       r"raise SAMHQ_MAX_IMAGE_PIXELS"):
        imaging.read_image(bomb)
    small = write_image(tmp_path / "small.png", (60, 80))
    with pytest.raises(ImageReadError, match=r"small.png is 80 x 60 = 4,800 pixels, over the "
                       r"pixel limit of 4,000"):
        load_image(small, max_pixels=4000)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded past the limit"))
    imaging.set_max_image_pixels(1000, "data.max_image_pixels")
    with pytest.raises(imaging.ImageTooLargeError, match="raise data.max_image_pixels"):
        imaging.read_image(small)
    assert Image.MAX_IMAGE_PIXELS == 1000  # PIL's own limit follows ours
    imaging.set_max_image_pixels(0)
    assert imaging.read_header(bomb) == imaging.ImageHeader(20000, 20000, 1)
    assert Image.MAX_IMAGE_PIXELS is None


def test_predict_refuses_an_image_over_max_pixels_in_one_line_and_goes_on(
    tmp_path, checkpoint, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    png_header_only(folder / "huge.png", 20000, 20000)
    write_image(folder / "fine.png")
    code, out, err = run(
        [folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "huge.png is 20000 x 20000 = 400,000,000 pixels, over the pixel limit" in lines[0]
    assert "raise --max-pixels" in lines[0] and "not a readable image" not in lines[0]
    assert "fine.png" in out and (tmp_path / "out" / "fine_mask.png").is_file()
    code, out, err = run(
        [folder / "fine.png", "--checkpoint", checkpoint, "--box", 5, 5, 50, 40,
         "--out", tmp_path / "out2", "--max-pixels", 1000],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    assert "fine.png is 80 x 60 = 4,800 pixels, over the pixel limit of 1,000" in errors(err)[0]


def test_running_out_of_memory_is_reported_as_such(tmp_path, checkpoint, capsys, monkeypatch):
    image = write_image(tmp_path / "a.png")

    def no_memory(*args):
        raise cv2.error("OpenCV(4.10.0) (-4:Insufficient memory) Failed to allocate 1 bytes")

    with monkeypatch.context() as patch:
        patch.setattr(cv2, "imdecode", no_memory)
        with pytest.raises(imaging.ImageMemoryError, match=r"out of memory on image file .*a.png "
                           r"\(80 x 60 pixels\)"):
            load_image(image)
    write_image(tmp_path / "b.png", seed=1)
    real = SamHQPredictor.predict
    calls = []

    def predict_once_out_of_memory(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't "
                               "allocate memory: you tried to allocate 1 bytes")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SamHQPredictor, "predict", predict_once_out_of_memory)
    code, out, err = run(
        [image, tmp_path / "b.png", "--checkpoint", checkpoint, "--box", 5, 5, 50, 40,
         "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "out of memory on image file" in lines[0] and "a.png (80 x 60 pixels)" in lines[0]
    assert "1 image(s) out of memory" in lines[-1]
    assert "b.png" in out and not (tmp_path / "out" / "a_mask.png").exists()


# ---- 2. bounded memory: the banded compositing is the whole-picture one -------------------------


def test_overlay_in_bands_equals_the_overlay_in_one_piece(monkeypatch):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    masks = rng.random((3, 70, 90)) > 0.6
    masks[1, 10:60, 20:80] = True
    gt = rng.random((70, 90)) > 0.5
    whole = drawing.draw_overlay(image, masks, gt, boxes=[[1, 2, 80, 60]] * 3)
    monkeypatch.setattr(drawing, "BAND_PIXELS", 90 * 4)  # bands of 4 rows
    banded = drawing.draw_overlay(image, masks, gt, boxes=[[1, 2, 80, 60]] * 3)
    np.testing.assert_array_equal(banded, whole)
    copy = image.copy()
    assert drawing.draw_overlay(copy, masks, in_place=True) is copy
    assert not np.array_equal(copy, image)


# ---- 3. EXIF orientation ------------------------------------------------------------------------


def test_exif_rotated_input_gets_a_note_and_is_used_as_stored(tmp_path, checkpoint, capsys):
    pixels = np.random.default_rng(0).integers(0, 255, (40, 70, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[imaging.EXIF_ORIENTATION] = 6
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert imaging.read_header(tmp_path / "photo.jpg").orientation == 6
    code, _, err = run(
        [tmp_path / "photo.jpg", "--checkpoint", checkpoint, "--box", 5, 5, 60, 30,
         "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    notes = [line for line in err.splitlines() if "EXIF orientation 6" in line]
    assert len(notes) == 1 and "used as stored" in notes[0], err
    assert cv2.imread(str(tmp_path / "out" / "photo_mask.png")).shape[:2] == (40, 70)


# ---- 4. a full disk keeps the listing -----------------------------------------------------------


def three_images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate("abc"):
        write_image(folder / f"{name}.png", seed=i)
    return folder


@pytest.mark.parametrize("final_write_fails", [False, True])
def test_a_full_disk_ends_in_one_line_and_keeps_the_listing(
    tmp_path, checkpoint, capsys, monkeypatch, final_write_fails
):
    folder, out = three_images(tmp_path), tmp_path / "out"
    real = predict_files.write_png

    def disk_fills_at_c(path, image):
        if path.name.startswith("c_"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, image)

    monkeypatch.setattr(batch_predict, "write_png", disk_fills_at_c)
    if final_write_fails:
        real_atomic_write = predict_files.atomic_write

        def no_space(path, write):
            if Path(path).name != "predictions.json":
                return real_atomic_write(path, write)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        monkeypatch.setattr(predict_files, "atomic_write", no_space)
    code, _, err = run(
        [folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", out], capsys
    )
    assert code == SETUP_ERROR_EXIT
    (line,) = errors(err)
    listing = out / ("predictions.jsonl" if final_write_fails else "predictions.json")
    assert line.startswith("error: no space left on the device writing ") and "c_mask" in line
    assert f"the 2 finished image(s) are listed in {listing}" in line
    if final_write_fails:
        entries = [json.loads(x) for x in listing.read_text().splitlines()]
        listed = {Path(e["image"]).name for e in entries}
    else:
        listed = {Path(k).name for k in json.loads(listing.read_text())}
        assert not (out / "predictions.jsonl").exists()
    assert listed == {"a.png", "b.png"}
    assert not any(p.name.startswith("c_") for p in out.iterdir())


def test_an_image_that_cannot_be_listed_is_not_kept(tmp_path, checkpoint, capsys, monkeypatch):
    folder, out = three_images(tmp_path), tmp_path / "out"
    real = predict_files.Listing.add

    def journal_full_at_b(self, image, result):
        if image.endswith("b.png"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.journal))
        real(self, image, result)

    monkeypatch.setattr(predict_files.Listing, "add", journal_full_at_b)
    code, _, err = run(
        [folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", out], capsys
    )
    assert code == SETUP_ERROR_EXIT and "the 1 finished image(s) are listed" in errors(err)[0]
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png", "a_overlay.png",
                                                      "predictions.json"]


def test_the_journal_is_replaced_by_predictions_json_at_the_end(tmp_path, checkpoint, capsys):
    folder, out = three_images(tmp_path), tmp_path / "out"
    code, _, _ = run([folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", out],
                     capsys)
    assert code == 0 and not (out / "predictions.jsonl").exists()
    assert len(json.loads((out / "predictions.json").read_text())) == 3


# ---- 5. subfolders ------------------------------------------------------------------------------


def test_subfolders_of_an_input_folder_are_counted_in_a_note(tmp_path, checkpoint, capsys):
    folder = three_images(tmp_path)
    (folder / "more").mkdir()
    write_image(folder / "more" / "d.png")
    (folder / "odd.png").mkdir()  # a folder with an image's name is not an image either
    code, out, err = run(
        [folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    assert f"note: {folder}: 2 subfolder(s) not read (more, odd.png)" in err
    assert "d.png" not in out


# ---- 6. several prompts: colours, shapes, numbers -----------------------------------------------


def test_each_box_mask_and_number_takes_its_own_palette_colour(tmp_path, checkpoint, capsys):
    image = write_image(tmp_path / "a.png", (80, 100))
    boxes = [[4, 4, 40, 40], [50, 30, 95, 75]]
    code, _, _ = run(
        [image, "--checkpoint", checkpoint, "--box", *boxes[0], "--box", *boxes[1],
         "--point", 70, 10, 0, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    overlay = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "a_overlay.png")), cv2.COLOR_BGR2RGB)
    for i, (_, y0, x1, y1) in enumerate(boxes):  # each box's right edge in its colour
        assert overlay[(y0 + y1) // 2, x1].tolist() == drawing.PALETTE[i].tolist()
    # the number tags sit at the boxes' top-left corners, in the boxes' colours
    assert overlay[boxes[1][1] + 2, boxes[1][0] + 2].tolist() == drawing.PALETTE[1].tolist()


def test_points_differ_by_shape_not_only_colour():
    image = np.full((60, 60, 3), 128, np.uint8)
    out = drawing.draw_overlay(image, [], points=[[15, 30, 1], [45, 30, 0]])
    grey = np.abs(out.astype(int) - 128).sum(axis=2) > 0
    disc, cross = grey[20:41, 5:26], grey[20:41, 35:56]
    assert disc[10, 10] and cross[10, 10]  # both mark the point itself
    assert disc[10, 4] and not cross[10, 4]  # a disc is filled left of its centre, an X is not
    assert cross[2, 2] and not disc[2, 2]  # an X reaches its corners, a disc does not


# ---- 7. reruns and --overwrite ------------------------------------------------------------------


def test_a_rerun_says_the_way_out_and_overwrite_refuses_a_folder_target(
    tmp_path, checkpoint, capsys
):
    image, out = write_image(tmp_path / "a.png"), tmp_path / "out"
    argv = [image, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", out]
    assert run(argv, capsys)[0] == 0
    code, _, err = run(argv, capsys)
    (line,) = errors(err)
    assert code == SETUP_ERROR_EXIT and "pass --overwrite to replace them" in line
    assert f"--out {tmp_path / 'out_2'}" in line, line
    (out / "a_overlay.png").unlink()
    (out / "a_overlay.png").mkdir()
    code, _, err = run([*argv, "--overwrite"], capsys)
    (line,) = errors(err)
    assert code == SETUP_ERROR_EXIT
    assert "a_overlay.png is a folder where a file is written, which --overwrite" in line
    assert line.endswith("remove it, or give another --out")


# ---- 8. the printed score -----------------------------------------------------------------------


def test_the_score_is_labelled_and_does_not_depend_on_hq_token_only(tmp_path, checkpoint, capsys):
    image = write_image(tmp_path / "a.png")
    argv = [image, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40]
    _, out, _ = run([*argv, "--out", tmp_path / "o1"], capsys)
    _, out_hq, _ = run([*argv, "--out", tmp_path / "o2", "--hq-token-only"], capsys)
    assert "(SAM's predicted IoU)" in out and "(SAM's predicted IoU)" in out_hq
    scores = [json.loads((tmp_path / o / "predictions.json").read_text()) for o in ("o1", "o2")]
    assert scores[0][str(image)]["scores"] == scores[1][str(image)]["scores"]


# ---- 9. a broken image under --prompts ----------------------------------------------------------


def test_a_broken_image_under_prompts_is_reported_unreadable(tmp_path, checkpoint, capsys):
    folder, prompts = tmp_path / "images", tmp_path / "prompts"
    folder.mkdir()
    prompts.mkdir()
    write_image(folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    (prompts / "good.json").write_text(json.dumps({"boxes": [[5, 5, 50, 40]]}))
    code, out, err = run(
        [folder, "--checkpoint", checkpoint, "--prompts", prompts, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "broken.png is not a readable image" in lines[0] and "no prompt" not in lines[0]
    assert "1 unreadable image(s)" in lines[-1] and "good.png" in out


# ---- 10. the evaluation overlay draws the prompt ------------------------------------------------


def test_the_evaluation_overlay_draws_the_prompt_in_original_pixels():
    from samhq_train.evaluation.benchmark import _prompt_in_original_pixels
    from samhq_train.evaluation.report import overlay_picture

    batch = {
        "input_size": [(20, 30)],
        "gt_original": [torch.zeros(40, 60, dtype=torch.uint8)],
        "prompt_type": ["box", "point"],
        "boxes": torch.tensor([[3.0, 2.0, 12.0, 10.0]]),
        "points": torch.tensor([[[5.0, 4.0], [9.0, 9.0]]]),
        "point_labels": torch.tensor([[1, -1]]),
    }
    prompt = _prompt_in_original_pixels(batch, 0)
    np.testing.assert_allclose(prompt["box"], [6, 4, 24, 20])
    batch["prompt_type"] = ["point"]
    np.testing.assert_allclose(_prompt_in_original_pixels(batch, 0)["points"], [[10, 8, 1]])
    item = {
        "image": torch.full((3, 20, 30), 100, dtype=torch.uint8),
        "gt": torch.zeros(40, 60),
        "masks": {"hq": torch.zeros(40, 60, dtype=torch.bool)},
        "scores": {"hq": {"iou": 0.5, "biou": 0.5}},
    }
    plain = overlay_picture(item)
    drawn = overlay_picture({**item, "prompt": prompt})
    assert plain.shape == drawn.shape and not np.array_equal(plain, drawn)
    assert (drawn.reshape(-1, 3) == drawing.PALETTE[0]).all(axis=1).any()  # the box's colour


def test_the_data_config_sets_the_same_limit(tmp_path):
    from samhq_train.data import DataError
    from samhq_train.data import read_image as data_read_image
    from samhq_train.data.datamodule import SegmentationDataModule

    SegmentationDataModule(64, max_image_pixels=1000)
    with pytest.raises(DataError, match=r"small.png is 80 x 60 = 4,800 pixels, over the pixel "
                       r"limit of 1,000 .*raise data.max_image_pixels"):
        data_read_image(write_image(tmp_path / "small.png"))
    assert imaging.max_image_pixels() == 1000  # in the environment: loader workers see it too


def test_boxes_decoded_in_chunks_give_the_masks_of_one_batch(monkeypatch):
    from samhq_train.inference.prompt_file import ImagePrompts

    predictor = SamHQPredictor(build_sam_hq("vit_demo", seed=0))
    predictor.set_image(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    boxes = np.array([[5, 5, 50, 40], [10, 20, 70, 55], [0, 0, 30, 30]], np.float64)
    prompts = ImagePrompts(boxes, None, box_ids=[0, 1, 2], box_entries=3)
    options = batch_predict.BatchOptions(out=Path("unused"))
    masks, scores = batch_predict.decode(predictor, prompts, options)
    monkeypatch.setattr(batch_predict, "MASK_BUDGET", 2 * 60 * 80 * 4)  # two boxes per call
    calls = []
    predict = predictor.predict
    monkeypatch.setattr(
        predictor, "predict", lambda **kw: calls.append(len(kw["box"])) or predict(**kw)
    )
    chunked, chunked_scores = batch_predict.decode(predictor, prompts, options)
    assert calls == [2, 1]  # within the budget, and no call smaller than it needs
    assert masks.shape == chunked.shape == (3, 60, 80) and masks.dtype == bool
    np.testing.assert_array_equal(chunked, masks)
    np.testing.assert_allclose(chunked_scores, scores, atol=1e-6)


def test_a_full_disk_in_atomic_write_keeps_its_line_and_names_the_listing(
    tmp_path, checkpoint, capsys, monkeypatch
):
    folder, out = three_images(tmp_path), tmp_path / "out"
    real = predict_files.write_png

    def disk_fills_at_c(path, image):
        if path.name.startswith("c_"):
            raise DiskFullError(disk_full_message(path, "No space left on device", 1000))
        real(path, image)

    monkeypatch.setattr(batch_predict, "write_png", disk_fills_at_c)
    code, _, err = run(
        [folder, "--checkpoint", checkpoint, "--box", 5, 5, 50, 40, "--out", out], capsys
    )
    assert code == SETUP_ERROR_EXIT
    (line,) = errors(err)
    assert "No space left on device writing " in line and "c_mask" in line
    assert f"the 2 finished image(s) are listed in {out / 'predictions.json'}" in line
