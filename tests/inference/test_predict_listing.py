"""samhq-predict as people use it, the files it writes: the listing kept through a full disk, the
journal replaced by predictions.json, reruns and --overwrite."""

import errno
import json
from pathlib import Path

import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.files import DiskFullError, disk_full_message
from samhq_train.inference import batch_predict, predict_files
from tests.inference.predict_runs import errors, run, three_images, write_image

pytestmark = pytest.mark.usefixtures("pixel_limit_restored")


@pytest.mark.parametrize("final_write_fails", [False, True])
def test_a_full_disk_ends_in_one_line_and_keeps_the_listing(
    tmp_path, tiny_weights, capsys, monkeypatch, final_write_fails
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
        [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out], capsys
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


def test_an_image_that_cannot_be_listed_is_not_kept(tmp_path, tiny_weights, capsys, monkeypatch):
    folder, out = three_images(tmp_path), tmp_path / "out"
    real = predict_files.Listing.add

    def journal_full_at_b(self, image, result):
        if image.endswith("b.png"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.journal))
        real(self, image, result)

    monkeypatch.setattr(predict_files.Listing, "add", journal_full_at_b)
    code, _, err = run(
        [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out], capsys
    )
    assert code == SETUP_ERROR_EXIT and "the 1 finished image(s) are listed" in errors(err)[0]
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png", "a_overlay.png",
                                                      "predictions.json"]


def test_the_journal_is_replaced_by_predictions_json_at_the_end(tmp_path, tiny_weights, capsys):
    folder, out = three_images(tmp_path), tmp_path / "out"
    code, _, _ = run([folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out],
                     capsys)
    assert code == 0 and not (out / "predictions.jsonl").exists()
    assert len(json.loads((out / "predictions.json").read_text())) == 3


def test_a_rerun_says_the_way_out_and_overwrite_refuses_a_folder_target(
    tmp_path, tiny_weights, capsys
):
    image, out = write_image(tmp_path / "a.png"), tmp_path / "out"
    argv = [image, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out]
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


def test_a_full_disk_in_atomic_write_keeps_its_line_and_names_the_listing(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    folder, out = three_images(tmp_path), tmp_path / "out"
    real = predict_files.write_png

    def disk_fills_at_c(path, image):
        if path.name.startswith("c_"):
            raise DiskFullError(disk_full_message(path, "No space left on device", 1000))
        real(path, image)

    monkeypatch.setattr(batch_predict, "write_png", disk_fills_at_c)
    code, _, err = run(
        [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out], capsys
    )
    assert code == SETUP_ERROR_EXIT
    (line,) = errors(err)
    assert "No space left on device writing " in line and "c_mask" in line
    assert f"the 2 finished image(s) are listed in {out / 'predictions.json'}" in line
