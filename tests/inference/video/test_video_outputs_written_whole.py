"""samhq-video-eval's mask PNGs (one per frame, or per object) and samhq-video-concept's frame PNGs
and concept.json are each written whole or not at all: a signal while one is written leaves the
earlier file as it was and no temporary beside it (tests/signal_mid_write.py; a write made in
place again fails these)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video.benchmark import write_mask, write_object_mask
from samhq_train.inference.video.command import davis_palette
from samhq_train.inference.video.concept_video.command_run import write_outputs
from samhq_train.inference.video.concept_video.planning_outputs import FrameOutput
from tests.signal_mid_write import check_signal_keeps_earlier_file


def _logits(count: int) -> torch.Tensor:
    """count x 1 x 6 x 8 logits: object k covers rows 0..k+1 (the first on top where two do)."""
    logits = torch.full((count, 1, 6, 8), -1.0)
    for k in range(count):
        logits[k, 0, : k + 2] = 1.0
    return logits


def test_a_signal_while_a_benchmark_mask_is_written_keeps_the_earlier_one(tmp_path, monkeypatch):
    path = tmp_path / "seq" / "00000.png"
    logits = _logits(2)
    check_signal_keeps_earlier_file(
        monkeypatch, path, lambda: write_mask(path, [1, 2], logits, None)
    )
    write_mask(path, [1, 2], logits, None)
    ids = np.array(Image.open(path))
    assert ids[:2].tolist() == [[1] * 8] * 2 and ids[2].tolist() == [2] * 8 and ids[3:].max() == 0


def test_a_signal_while_an_object_mask_is_written_keeps_the_earlier_one(tmp_path, monkeypatch):
    path = tmp_path / "seq" / "1" / "00000.png"
    logits = _logits(1)[0]
    check_signal_keeps_earlier_file(
        monkeypatch, path, lambda: write_object_mask(path, logits, None)
    )
    write_object_mask(path, logits, None)
    assert Image.open(path).mode == "P" and np.array(Image.open(path)).sum() == 2 * 8


@pytest.mark.parametrize("name", ["f0.png", "concept.json"])
def test_a_signal_while_a_concept_video_output_is_written_keeps_the_earlier_one(
    tmp_path, monkeypatch, name
):
    video = SimpleNamespace(size=(6, 8), names=["f0"])
    mask = _logits(1)[:, 0].numpy() > 0
    output = FrameOutput(obj_ids=np.array([7]), probs=np.array([0.75], np.float32),
                         boxes_xywh=np.zeros((1, 4), np.float32), masks=mask)

    def write():
        return write_outputs(tmp_path, video, [(0, output)], davis_palette(), {"text": "cat"})

    check_signal_keeps_earlier_file(monkeypatch, tmp_path / name, write)
    write()
    record = json.loads((tmp_path / "concept.json").read_text())
    assert record["objects"] == [{"id": 7, "png_value": 1, "first_frame": 0, "score": 0.75}]
    assert np.array_equal(np.array(Image.open(tmp_path / "f0.png")), mask[0].astype(np.uint8))
