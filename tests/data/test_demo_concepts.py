"""The concept demo's generator: deterministic COCO files whose RLEs and boxes are the painted
shapes', and the merges file of the miniature's text encoder, written once, never over a foreign
folder."""

import json

import numpy as np
import pytest
import torch

from samhq_train.clip_tokenizer import WORD_END, ClipTokenizer, learn_merges
from samhq_train.data.demo_concepts import (
    ANNOTATIONS,
    DEMO_MERGE_COUNT,
    DEMO_MERGES_FILE,
    MERGES_CORPUS,
    PHRASES,
    concept_demo_sample,
    ensure_concept_demo,
    tight_box,
    uncompressed_rle,
)
from samhq_train.data.image_files import DataError
from samhq_train.model.sam3 import VARIANTS


def decode(rle: dict) -> np.ndarray:
    h, w = rle["size"]
    values = np.zeros(h * w, bool)
    position, value = 0, False
    for run in rle["counts"]:
        values[position:position + run] = value
        position, value = position + run, not value
    assert position == h * w
    return values.reshape((w, h)).T


@pytest.mark.parametrize("corner", [False, True])
def test_rle_round_trips_column_major(corner):
    mask = np.zeros((5, 7), np.uint8)
    mask[1:4, 2] = 255
    mask[3, 5:7] = 255
    mask[0, 0] = 255 if corner else 0
    rle = uncompressed_rle(mask)
    assert (rle["counts"][0] == 0) == corner
    assert np.array_equal(decode(rle), mask > 0)
    assert tight_box(mask) == ([0.0, 0.0, 7.0, 4.0] if corner else [2.0, 1.0, 5.0, 3.0])


def test_files_hold_the_painted_shapes(tmp_path):
    root = ensure_concept_demo(tmp_path / "demo", num_train=5, num_val=2, size=96)
    coco = json.loads((root / "train" / ANNOTATIONS).read_text())
    assert [c["name"] for c in coco["categories"]] == list(PHRASES.values())
    assert [im["file_name"] for im in coco["images"]] == [f"{i:04d}.jpg" for i in range(5)]
    for image in coco["images"]:
        _, objects = concept_demo_sample(0, "train", image["id"] - 1, 96)
        mine = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert 1 <= len(mine) == len(objects) <= 3
        for ann, (_, mask) in zip(mine, objects, strict=True):
            assert np.array_equal(decode(ann["segmentation"]), mask > 0)
            assert ann["bbox"] == tight_box(mask) and ann["area"] == int((mask > 0).sum())
    assert len(json.loads((root / "val" / ANNOTATIONS).read_text())["images"]) == 2
    again = tmp_path / "again"
    ensure_concept_demo(again, num_train=5, num_val=2, size=96)
    for name in ("0000.jpg", "0004.jpg", ANNOTATIONS):
        assert (again / "train" / name).read_bytes() == (root / "train" / name).read_bytes()


def test_never_writes_over_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="is not demo data"):
        ensure_concept_demo(tmp_path, num_train=1, num_val=0, size=64)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_a_size_too_small_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"data.demo.size=32: expected an integer >= 64"):
        ensure_concept_demo(tmp_path / "d", size=32)


def test_merges_file_fits_the_miniature_and_is_the_same_bytes(tmp_path):
    """The demo's merges file gives the sam3_hq_demo text encoder's 764 ids, each word of every
    phrase is one token, and two writes give the same bytes."""
    cfg = VARIANTS["sam3_hq_demo"].concept
    roots = [ensure_concept_demo(tmp_path / name, num_train=1, num_val=0, size=64)
             for name in ("a", "b")]
    first, second = (root / DEMO_MERGES_FILE for root in roots)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == bytes(4)  # gzip's time stamp 0: the same bytes any day
    assert len(learn_merges(MERGES_CORPUS, 10**4)) > DEMO_MERGE_COUNT  # the text holds enough
    tokenizer = ClipTokenizer(first, cfg.context_length, cfg.vocab_size)
    assert len(tokenizer.ids) == cfg.vocab_size == 764
    for phrase in PHRASES.values():
        words = phrase.split()
        assert tokenizer.encode(phrase) == [tokenizer.ids[w + WORD_END] for w in words], phrase
        row = tokenizer(phrase)[0]
        assert row[: len(words) + 2].tolist() == [
            tokenizer.start_id, *tokenizer.encode(phrase), tokenizer.end_id
        ]
    meta = pytest.importorskip("sam3.model.tokenizer_ve").SimpleTokenizer(bpe_path=str(first))
    texts = list(PHRASES.values()) + ["a ring beside two wheels", "Trees!"]
    assert torch.equal(meta(texts, context_length=cfg.context_length), tokenizer(texts))
