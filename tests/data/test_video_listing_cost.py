"""Listing a video root costs per sequence, not per frame: a root of YouTube-VOS / SA-V size
holds hundreds of thousands of frames, and samhq-train lists it at its check stage and again in
its loaders. The frames' file types come from the folder listing (os.scandir's entries), not
from a stat of each file; samhq-video's frames folders are listed the same way."""

import os

from samhq_train.data.video_clips import find_sequences
from samhq_train.inference.video.frames import list_frames
from tests.data.test_video_clip_folders import write_sequence


def _stats_made(monkeypatch, call) -> int:
    calls = []
    real = os.stat

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "stat", counted)
    call()
    monkeypatch.setattr(os, "stat", real)
    return len(calls)


def test_listing_a_root_makes_as_many_stats_for_long_sequences_as_for_short_ones(
        tmp_path, monkeypatch):
    short, long = tmp_path / "short", tmp_path / "long"
    for name in ("a", "b"):
        write_sequence(short, name, 2)
        write_sequence(long, name, 24)
    stats = {root.name: _stats_made(monkeypatch, lambda r=root: find_sequences(r, 2))
             for root in (short, long)}
    assert stats["long"] == stats["short"], stats
    (seq, _) = find_sequences(long, 2)
    assert [p.name for p in seq.frames] == [f"{t:05d}.jpg" for t in range(24)]
    assert seq.masks[-1] == long / "Annotations" / "a" / "00023.png"


def test_listing_a_frames_folder_makes_as_many_stats_for_many_frames_as_for_few(
        tmp_path, monkeypatch):
    write_sequence(tmp_path / "few", "v", 2)
    write_sequence(tmp_path / "many", "v", 24)
    folders = {n: tmp_path / n / "JPEGImages" / "v" for n in ("few", "many")}
    stats = {n: _stats_made(monkeypatch, lambda f=f: list_frames(f)) for n, f in folders.items()}
    assert stats["many"] == stats["few"], stats
    assert list_frames(folders["many"])[3] == folders["many"] / "00003.jpg"
