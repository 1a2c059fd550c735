"""Bad image and mask files: unreadable, truncated, coloured, binary, 16-bit, of another size;
an empty mask skipped in training, refused in one line by a strict evaluation, dropped with a
log by a lenient one."""

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_helpers import blob, write_pair

from samhq_train.data import DataError, PairedFolderDataset, read_image, read_mask
from samhq_train.data.datamodule import SegmentationDataModule


def test_unreadable_and_truncated_images(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image")
    with pytest.raises(DataError, match=r"junk.jpg is not a readable image"):
        read_image(tmp_path / "junk.jpg")
    image, _ = blob()
    ok, data = cv2.imencode(".jpg", image)
    (tmp_path / "cut.jpg").write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.jpg is truncated"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero.png is empty"):
        read_mask(tmp_path / "zero.png")


def test_bad_masks(tmp_path):
    image, mask = blob()
    colour = np.dstack([mask, mask // 2, mask])
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(
        DataError, match=r"colour.png has 3 channels with different values.*grayscale"
    ):
        read_mask(tmp_path / "colour.png")
    cv2.imwrite(str(tmp_path / "grey3.png"), np.dstack([mask] * 3))
    np.testing.assert_array_equal(read_mask(tmp_path / "grey3.png"), mask)  # equal channels: fine
    cv2.imwrite(str(tmp_path / "binary.png"), (mask > 0).astype(np.uint8))
    with pytest.raises(DataError, match=r"binary.png has values 0-1.*multiplied by 255"):
        read_mask(tmp_path / "binary.png")
    cv2.imwrite(str(tmp_path / "deep.png"), mask.astype(np.uint16) * 257)
    with pytest.raises(DataError, match=r"deep.png is a uint16 mask.*8-bit"):
        read_mask(tmp_path / "deep.png")
    write_pair(tmp_path / "im", tmp_path / "gt", "size", image, mask[:40])
    with pytest.raises(DataError, match=r"size.png is 64x40 but its image size.jpg is 64x48"):
        PairedFolderDataset(tmp_path / "im", tmp_path / "gt")[0]


def bad_set(tmp_path: Path) -> Path:
    """Three good pairs, one empty mask (e_empty) and one unreadable image (z_broken)."""
    for i in range(3):
        write_pair(tmp_path / "im", tmp_path / "gt", f"good{i}", *blob(seed=i))
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "e_empty", image, mask * 0)
    write_pair(tmp_path / "im", tmp_path / "gt", "z_broken", image, mask)
    (tmp_path / "im" / "z_broken.jpg").write_bytes(b"garbage")
    return tmp_path


def test_empty_mask_is_a_logged_skip_in_training(tmp_path, caplog):
    root = bad_set(tmp_path)
    (root / "im" / "z_broken.jpg").unlink()
    (root / "gt" / "z_broken.png").unlink()
    dm = SegmentationDataModule(
        32, train_sets=[{"image_dir": "im", "mask_dir": "gt"}], root=str(root), batch_size=4
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING):
        batch = next(iter(dm.train_dataloader()))
    assert "e_empty" not in batch["name"] and len(batch["name"]) == 4
    assert "e_empty.png: empty mask" in caplog.text


def test_strict_eval_raises_in_the_main_process_naming_the_file(tmp_path):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        val_sets=[{"name": "v", "image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        val_batch_size=5,
        num_workers=1,
    )
    dm.setup("validate")
    with pytest.raises(DataError) as err:
        next(iter(dm.val_dataloader()[0]))
    text = str(err.value)
    assert "e_empty.png: empty mask" in text and "(and 1 more in this batch); or set " in text
    assert "\n" not in text and "worker" not in text  # one line: the first file, the count


def test_lenient_eval_drops_bad_samples_with_a_log(tmp_path, caplog):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        val_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        val_batch_size=5,
        strict_eval=False,
    )
    dm.setup("validate")
    with caplog.at_level(logging.WARNING):
        batches = list(dm.val_dataloader()[0])
    assert [b["name"] for b in batches] == [["good0", "good1", "good2"]]
    assert "e_empty.png" in caplog.text and "z_broken.jpg" in caplog.text


def test_lenient_training_skips_unreadable_files(tmp_path, caplog):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        train_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        batch_size=5,
        strict_train=False,
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING):
        batch = next(iter(dm.train_dataloader()))
    assert len(batch["name"]) == 5 and set(batch["name"]) <= {"good0", "good1", "good2"}
    dm = SegmentationDataModule(
        32,
        train_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        batch_size=5,
        strict_train=True,
    )
    dm.setup("fit")
    with pytest.raises(DataError, match="z_broken.jpg is not a readable image"):
        next(iter(dm.train_dataloader()))


def test_a_grey_mask_with_an_alpha_channel_reads_its_grey_values(tmp_path):
    """An RGBA mask: its equal colour channels are the mask, transparent pixels background
    (here over the blob's background: the mask as stored; test_odd_image_files has cut-outs)."""
    _, mask = blob()
    alpha = np.full_like(mask, 255)
    alpha[:10] = 0
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([mask, mask, mask, alpha]))
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), mask)
    cv2.imwrite(str(tmp_path / "colour_alpha.png"), np.dstack([mask, mask // 2, mask, alpha]))
    with pytest.raises(DataError, match="4 channels with different values"):
        read_mask(tmp_path / "colour_alpha.png")
