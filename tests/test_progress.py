"""Progress where people look (samhq_train/progress.py): plain lines at SAMHQ_PROGRESS_INTERVAL
when stdout is not a terminal, tqdm bars in one, nothing for an empty loop; the cache build and
samhq-predict through it. (pytest's captured stdout is not a terminal: the plain branch.)"""

import logging
import re

import cv2
import numpy as np
import pytest

from samhq_train import progress as progress_module
from samhq_train.cache.build import EmbeddingCache
from samhq_train.cli import predict as predict_command
from samhq_train.data import ensure_demo_data
from samhq_train.data.datamodule import SegmentationDataModule
from samhq_train.model import Provenance, build_sam_hq, save_checkpoint
from samhq_train.progress import INTERVAL_ENV, Progress, duration, interval_s, track

LINE = re.compile(
    r"^(?P<what>[^:]+): (?P<done>\d+)/(?P<total>\d+) img \((?P<pct>\d+)%\) \| [\d.e+]+ img/s"
    r" \| elapsed \d+s( \| ETA \d+s)?$"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_plain_lines_come_at_the_interval_and_at_the_end(clock, capsys, monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    with Progress(10, "embedding cache") as bar:
        for _ in range(10):
            clock.now += 7.0  # a line once 30 s passed since the last one: after 5 and 10 units
            bar.update()
    out = lines(capsys.readouterr().out)
    assert out == [
        "embedding cache: 5/10 img (50%) | 0.143 img/s | elapsed 35s | ETA 35s",
        "embedding cache: 10/10 img (100%) | 0.143 img/s | elapsed 1m10s",
    ]


def test_the_interval_setting_and_the_closing_line(clock, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    assert interval_s() == 0.0
    with Progress(3, "COCO") as bar:
        for _ in range(3):
            clock.now += 2.0
            bar.update()
    out = lines(capsys.readouterr().out)
    assert len(out) == 3  # one per update, no repeated closing line
    assert [LINE.match(o).group("done") for o in out] == ["1", "2", "3"]
    assert out[0].endswith("ETA 4s") and "ETA" not in out[-1]

    with Progress(5, "predict") as bar:  # stopped early: the closing line says where
        bar.update(2)
    assert lines(capsys.readouterr().out)[-1].startswith("predict: 2/5 img (40%)")


def test_an_empty_or_short_transient_loop_prints_nothing(capsys, monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    for live in (False, True):
        monkeypatch.setattr(progress_module, "live", lambda live=live: live)
        with Progress(0, "embedding cache"):
            pass
        assert list(track([], "predict")) == []
        captured = capsys.readouterr()
        assert captured.out + captured.err == "", live
    monkeypatch.setattr(progress_module, "live", lambda: False)
    assert list(track(range(3), "cache: hashing demo-train", leave=False)) == [0, 1, 2]
    assert capsys.readouterr() == ("", "")  # transient and short: no line in a log


def test_a_terminal_gets_a_live_bar_and_no_plain_lines(capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    monkeypatch.setattr(progress_module, "live", lambda: True)
    assert list(track(range(4), "demo-val")) == [0, 1, 2, 3]
    captured = capsys.readouterr()
    assert captured.out == "" and "demo-val" in captured.err and "4/4" in captured.err
    assert list(track(range(4), "predict", bar=False)) == [0, 1, 2, 3]  # per-image lines suffice
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("value", ["abc", "-5", "nan"])
def test_a_bad_interval_is_reported_once_and_the_default_used(monkeypatch, caplog, value):
    monkeypatch.setenv(INTERVAL_ENV, value)
    progress_module._warned.discard(value)
    with caplog.at_level(logging.WARNING, logger="samhq_train.progress"):
        assert interval_s() == 30.0
        assert interval_s() == 30.0
    assert [r.getMessage() for r in caplog.records] == [
        f"{INTERVAL_ENV}={value}: not a number of seconds >= 0; using 30 (e.g. {INTERVAL_ENV}=60)"
    ]


def test_durations():
    assert [duration(s) for s in (0, 44.6, 65, 3599, 7620)] == ["0s", "45s", "1m05s", "59m59s",
                                                                 "2h07m"]


def test_the_cache_build_prints_its_progress_and_no_empty_bar(tmp_path, capsys, monkeypatch):
    """A build prints plain lines; a second build with nothing missing prints nothing, in a log
    and in a terminal (no `embedding cache: 0img`)."""
    monkeypatch.setenv(INTERVAL_ENV, "0")
    root = ensure_demo_data(tmp_path / "demo", num_train=3, num_val=1, height=64, width=80, seed=0)
    model = build_sam_hq("vit_demo", seed=0)
    cache = EmbeddingCache.for_model(
        model, Provenance(variant="vit_demo", seed=0), dir=tmp_path / "cache", batch_size=2
    )
    sets = {
        f"{kind}_sets": [{"name": kind, "image_dir": f"{kind}/images", "mask_dir": f"{kind}/masks"}]
        for kind in ("train", "val")
    }
    data = SegmentationDataModule(256, root=str(root), batch_size=2, num_workers=0, **sets)
    data.use_cache(cache)
    data.setup("fit")  # plans 3 + 1 entries
    capsys.readouterr()
    assert cache.build(model) == 4
    out = lines(capsys.readouterr().out)
    assert [LINE.match(o).group("done", "total") for o in out] == [("2", "4"), ("4", "4")]
    assert all(o.startswith("embedding cache: ") for o in out)
    for live in (False, True):
        monkeypatch.setattr(progress_module, "live", lambda live=live: live)
        assert cache.build(model) == 0
        captured = capsys.readouterr()
        assert "embedding cache" not in captured.out + captured.err


def test_predict_into_a_log_prints_progress(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    checkpoint = save_checkpoint(
        build_sam_hq("vit_demo", seed=0), tmp_path / "m.safetensors", "safetensors"
    )
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(images / f"{name}.png"), np.full((60, 80, 3), 128, np.uint8))
    argv = [str(images), "--checkpoint", str(checkpoint), "--box", "5", "5", "50", "40"]
    predict_command.main([*argv, "--out", str(tmp_path / "out"), "--device", "cpu"])
    out = lines(capsys.readouterr().out)
    progress = [o for o in out if o.startswith("predict: ")]
    assert [LINE.match(o).group("done", "total") for o in progress] == [("1", "2"), ("2", "2")]
    assert sum("_mask.png" in o and " scores " in o for o in out) == 2  # the per-image lines
