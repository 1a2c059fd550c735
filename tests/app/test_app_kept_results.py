"""The app's kept click results stay within their byte budget over a long session (a large
photo clicked many times), and a prefix no longer kept is decoded again, from the longest kept
one, to the same masks."""

import gc
import weakref

import numpy as np
import pytest

from samhq_train.app import engine
from samhq_train.app.engine import Options, Segmenter
from samhq_train.model import load_checkpoint

from .conftest import demo_image

CLICKS = [{"point": [20.0 + 13 * i, 30.0 + 9 * i, 1 - i % 2]} for i in range(8)]


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def session(model, clicks, budget_results=None, monkeypatch=None):
    """A segmenter on one demo image, each prefix of `clicks` asked in turn; with
    budget_results, KEPT_RESULT_BYTES holds that many results."""
    segmenter = Segmenter(model)
    image_id = segmenter.set_image(demo_image(2), "demo-2")["image_id"]
    if budget_results is not None:
        one, _ = segmenter.segment(image_id, clicks[:1], Options())
        monkeypatch.setattr(engine, "KEPT_RESULT_BYTES", budget_results * one.nbytes + 1)
    masks = [segmenter.segment(image_id, clicks[: n + 1], Options())[0].hq.mask
             for n in range(len(clicks))]
    return segmenter, image_id, masks


def test_kept_results_stay_within_the_byte_budget(model, monkeypatch):
    decoded = []  # a weak reference to every result decoded
    decode = Segmenter._decode
    monkeypatch.setattr(Segmenter, "_decode", lambda *a: keep(decoded, decode(*a)))
    segmenter, _, _ = session(model, CLICKS, budget_results=3, monkeypatch=monkeypatch)
    gc.collect()
    alive = [ref for ref in decoded if ref() is not None]
    assert len(decoded) == len(CLICKS) and len(alive) <= 3  # without the budget: all 8
    assert segmenter.images  # (held to here)


def keep(found: list, result):
    found.append(weakref.ref(result))
    return result


def test_a_dropped_prefix_is_decoded_again_to_the_same_masks(model, monkeypatch):
    _, _, unbounded = session(model, CLICKS)
    segmenter, image_id, bounded = session(model, CLICKS, budget_results=2,
                                           monkeypatch=monkeypatch)
    for n, (a, b) in enumerate(zip(unbounded, bounded)):
        np.testing.assert_array_equal(a, b, err_msg=f"after click {n + 1}")
    decoded = []
    decode = segmenter._decode
    monkeypatch.setattr(segmenter, "_decode", lambda *a: decoded.append(1) or decode(*a))
    again, spent = segmenter.segment(image_id, CLICKS, Options())  # the newest: kept
    assert spent == 0 and not decoded
    undo, _ = segmenter.segment(image_id, CLICKS[:4], Options())  # dropped: decoded from scratch
    np.testing.assert_array_equal(undo.hq.mask, unbounded[3])
    assert len(decoded) == 4
    decoded.clear()
    segmenter.segment(image_id, CLICKS[:5], Options())  # one click on a kept prefix: one decode
    assert len(decoded) == 1
