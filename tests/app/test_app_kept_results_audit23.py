"""Mutation audit (round 23) of app/engine.py's kept results: the newest result is kept even
when it alone is over the byte budget, an image dropped from the kept embeddings takes its
results (and their bytes) with it, and a kept prefix asked again is the most recently used."""

import pytest

from samhq_train.app import engine
from samhq_train.app.engine import Options, Segmenter
from samhq_train.model import load_checkpoint

from .conftest import demo_image

CLICK = {"point": [20.0, 30.0, 1]}


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def counted(segmenter, monkeypatch) -> list:
    decoded = []
    decode = segmenter._decode
    monkeypatch.setattr(segmenter, "_decode", lambda *a: decoded.append(1) or decode(*a))
    return decoded


def test_the_newest_result_is_kept_over_the_budget(model, monkeypatch):
    monkeypatch.setattr(engine, "KEPT_RESULT_BYTES", 1)
    segmenter = Segmenter(model)
    image_id = segmenter.set_image(demo_image(0), "a")["image_id"]
    segmenter.segment(image_id, [CLICK], Options())
    decoded = counted(segmenter, monkeypatch)
    assert segmenter.segment(image_id, [CLICK], Options())[1] == 0 and not decoded
    assert len(segmenter.results) == 1


def test_an_image_dropped_takes_its_results_and_bytes(model, monkeypatch):
    monkeypatch.setattr(engine, "KEPT_IMAGES", 1)
    segmenter = Segmenter(model)
    first = segmenter.set_image(demo_image(0), "a")["image_id"]
    segmenter.segment(first, [CLICK], Options())
    second = segmenter.set_image(demo_image(1), "b")["image_id"]
    assert list(segmenter.images) == [second]
    assert not segmenter.results and segmenter.result_bytes == 0
    result, _ = segmenter.segment(second, [CLICK], Options())
    assert segmenter.result_bytes == result.nbytes and segmenter.images[second]["results"] == 1


def test_a_prefix_asked_again_is_the_last_dropped(model, monkeypatch):
    segmenter = Segmenter(model)
    image_id = segmenter.set_image(demo_image(0), "a")["image_id"]
    other = {"point": [40.0, 50.0, 1]}
    one, _ = segmenter.segment(image_id, [CLICK], Options())
    segmenter.segment(image_id, [other], Options())
    segmenter.segment(image_id, [CLICK], Options())  # kept: now the most recently used
    monkeypatch.setattr(engine, "KEPT_RESULT_BYTES", 2 * one.nbytes)
    segmenter.segment(image_id, [CLICK, other], Options())  # a third result: one is dropped
    first, then = ("point", (20.0, 30.0, 1)), ("point", (40.0, 50.0, 1))
    assert [key[2] for key in segmenter.results] == [(first,), (first, then)]  # [other]: dropped
    decoded = counted(segmenter, monkeypatch)
    segmenter.segment(image_id, [CLICK], Options())
    assert not decoded


def test_an_images_results_past_its_count_are_dropped(model, monkeypatch):
    monkeypatch.setattr(engine, "KEPT_RESULTS", 1)
    segmenter = Segmenter(model)
    image_id = segmenter.set_image(demo_image(0), "a")["image_id"]
    segmenter.segment(image_id, [CLICK], Options())
    segmenter.segment(image_id, [{"point": [40.0, 50.0, 1]}], Options())
    assert len(segmenter.results) == 1 and segmenter.images[image_id]["results"] == 1


def test_a_kept_sides_mask_and_bytes():
    """Unit check of the kept form: the mask unpacked at its own width (13, not a multiple of 8)
    and the bytes counted of both sides, packed masks and low-res logits."""
    import numpy as np

    from samhq_train.app.engine import Side, StepResult

    mask = np.random.default_rng(0).random((5, 13)) > 0.5
    low_res = np.zeros((1, 4, 4), np.float32)
    side = Side.of(mask, 0.5, low_res)
    np.testing.assert_array_equal(side.mask, mask)
    assert side.nbytes == 5 * 2 + low_res.nbytes
    other = Side.of(mask[:, :8], 0.5, low_res[:, :2])
    assert StepResult(side, other, False).nbytes == side.nbytes + 5 + 32


def test_an_images_count_drops_its_own_oldest_not_another_images(model, monkeypatch):
    monkeypatch.setattr(engine, "KEPT_RESULTS", 1)
    segmenter = Segmenter(model)
    a = segmenter.set_image(demo_image(0), "a")["image_id"]
    b = segmenter.set_image(demo_image(1), "b")["image_id"]
    segmenter.segment(a, [CLICK], Options())
    segmenter.segment(b, [CLICK], Options())
    segmenter.segment(b, [{"point": [40.0, 50.0, 1]}], Options())
    assert [key[0] for key in segmenter.results] == [a, b]
    assert segmenter.images[a]["results"] == segmenter.images[b]["results"] == 1
