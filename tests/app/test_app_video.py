"""The video page's engine and json API: every mask equals VideoPredictor's for the same calls
(the HQ-SAM 2 miniature of the video tests, bit for bit), through clicks, propagation, a
correction, undo and removing an object; a pick on a pixel names the object drawn there; the zip
holds samhq-video's PNGs for the same prompts; bad input is one line (exit 2 at the command, a
json error in the server)."""

import base64
import io
import json
import urllib.request
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train.app import command
from samhq_train.app.video import VideoSession
from samhq_train.inference.video import VideoPredictor
from samhq_train.inference.video import command as video_command
from samhq_train.inference.video.frames import open_video
from samhq_train.model import load_checkpoint

from .test_app_server import call
from .video_reference import Direct, assert_same_masks

CLICKS = [  # (frame, object, step) in video pixels (128 x 96)
    (0, 1, {"point": [25.0, 35.0, 1]}),
    (0, 1, {"point": [60.0, 80.0, 0]}),
    (1, 2, {"box": [70.0, 20.0, 110.0, 60.0]}),
    (1, 2, {"point": [90.0, 40.0, 1]}),
]
CORRECTION = (3, 1, {"point": [50.0, 35.0, 0]})


@pytest.fixture(scope="module")
def model(hq_sam2_file):
    return load_checkpoint(hq_sam2_file).eval()


def session_of(model, frames) -> VideoSession:
    return VideoSession(VideoPredictor(model), open_video(frames, keep_decoded=True))


def test_the_engine_gives_the_predictors_masks(model, video_frames):
    session, direct = session_of(model, video_frames), Direct(model, video_frames)
    for n, click in enumerate(CLICKS, 1):
        session.click(*click)
        direct.click(*click)
        assert_same_masks(session, direct, f"after click {n}")
    session.propagate("both")
    direct.propagate("both")
    assert_same_masks(session, direct, "propagated")
    assert_picks(session, 5, *direct.masks[5])
    tracked = {f: direct.masks[f][1].copy() for f in range(6)}
    assert len({m.tobytes() for m in tracked.values()}) == 6  # six different frames
    areas = [int(m.sum()) for m in tracked[5]]
    assert 0 < min(areas) and max(areas) < 128 * 96
    session.click(*CORRECTION)
    direct.click(*CORRECTION)
    assert_same_masks(session, direct, "corrected")
    assert not np.array_equal(direct.masks[3][1], tracked[3])  # the click changed frame 3
    session.propagate("forward")
    direct.propagate("forward")
    assert_same_masks(session, direct, "propagated again")

    session.undo()  # the correction and the propagation after it
    assert_same_masks(session, Direct(model, video_frames).run([*CLICKS, "both"]), "undone")
    session.remove_object(2)
    only_1 = [c for c in CLICKS if c[1] == 1]
    assert_same_masks(session, Direct(model, video_frames).run([*only_1, "both"]), "removed")
    assert session.info()["objects"] == [1] and session.info()["clicks"] == 2


def test_new_objects_after_propagation_and_bad_clicks_are_one_line(model, video_frames):
    session = session_of(model, video_frames)
    with pytest.raises(Exception, match="no clicks yet"):
        session.propagate("both")
    session.click(*CLICKS[0])
    assert "note" not in session.click(0, 1, {"point": [60.0, 80.0, 0]})
    session.propagate("forward")
    assert "note" not in session.click(2, 1, {"point": [60.0, 80.0, 0]})  # a correction
    note = session.click(0, 1, {"point": [70.0, 80.0, 0]})["note"]
    assert note.startswith("frame 0 was clicked before it was tracked: SAM 2.1 keeps its first")
    session.propagate("forward")
    assert "note" not in session.click(2, 1, {"point": [80.0, 80.0, 0]})
    for args, named in [
        ((1, 2, {"point": [5, 5, 1]}), "object 2 is new after propagation: batched tracking"),
        ((6, 1, {"point": [5, 5, 1]}), "frame 6 does not exist: the video has frames 0 to 5"),
        ((0, 1, {"point": [200, 5, 1]}), "frame 0, object 1: point [200.0, 5.0, 1.0] lies "
                                         "outside the 128 x 96 frame"),
        ((0, 0, {"point": [5, 5, 1]}), "object 0: object ids are 1 to 255"),
        ((0, 1, {"box": [9, 9, 3, 3]}), "box [9.0, 9.0, 3.0, 3.0] must have x0 < x1"),
        (("1", 1, {"point": [5, 5, 1]}), "frame '1': give a frame number 0 to 5"),
    ]:
        with pytest.raises(Exception, match="^") as err:
            session.click(*args)
        assert named in str(err.value) and "\n" not in str(err.value), str(err.value)
    with pytest.raises(Exception, match="direction 'sideways'"):
        session.propagate("sideways")
    assert session.info()["clicks"] == 5  # refused clicks are not kept


def assert_picks(session, frame: int, ids: list[int], masks: np.ndarray) -> None:
    """A pick on a pixel of each object drawn, on one where masks overlap (if any) and on the
    background names the object on top there: the smallest id whose mask holds the pixel
    (samhq-video's PNG), None on the background."""
    on_top = np.where(masks, np.array(ids)[:, None, None], 256).min(axis=0)
    kinds = [on_top == value for value in np.unique(on_top)] + [masks.sum(axis=0) > 1]
    picked = 0
    for pixels in kinds:
        if pixels.any():
            y, x = np.argwhere(pixels)[pixels.sum() // 2]
            answer = session.pick(frame, [x + 0.5, y + 0.5])
            assert answer == {"frame": frame, "object": (int(on_top[y, x]) if on_top[y, x] < 256
                                                         else None)}, (x, y, answer)
            picked += 1
    assert picked >= 2 and (on_top < 256).any() and (on_top == 256).any()
    h, w = masks.shape[1:]
    corner = on_top[h - 1, w - 1]
    assert session.pick(frame, [w, h])["object"] == (int(corner) if corner < 256 else None)
    for point in ([w + 1, 0], [0, -1], [1], "1 2", [float("nan"), 1], [True, 1]):
        with pytest.raises(Exception, match=rf"^pick at .*inside the {w} x {h} frame$"):
            session.pick(frame, point)


def png_ids(data: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(data))
    assert picture.mode == "P"
    return np.array(picture)


def post(base, path, body):
    return call(f"{base}{path}", body, {"Content-Type": "application/json"})


def test_the_server_answers_the_predictors_masks_and_zips_samhq_videos_pngs(
    video_server, video_frames, hq_sam2_file, model, tmp_path
):
    """One click per object and frame here: a further click on the same frame also takes the
    object's previous logits as mask input (the official predictors' rule), which a prompts file
    given to samhq-video at once does not (the engine test covers further clicks)."""
    base = video_server
    direct = Direct(model, video_frames)
    for frame, obj, step in [CLICKS[0], CLICKS[2]]:
        status, record = post(base, "/api/video/click", {"frame": frame, "object": obj, **step})
        assert status == 200, record
        ids, masks = direct.click(frame, obj, step)
        got = png_ids(base64.b64decode(record["mask"].split(",", 1)[1]))
        np.testing.assert_array_equal(got, video_command.id_mask(ids, as_tensor(masks)))
        assert record["areas"] == {str(i): int(m.sum()) for i, m in zip(ids, masks)}
    status, answer = post(base, "/api/video/propagate", {"direction": "both"})
    assert status == 200 and answer["frames"] == 6
    status, progress = call(f"{base}/api/video/progress")
    assert progress["running"] is False and progress["frames_done"] == 6
    status, record = call(f"{base}/api/video/masks?index=4")
    assert record["objects"] == [1, 2] and record["prompts"] == []
    with urllib.request.urlopen(f"{base}/api/video/frame?index=4") as response:
        frame = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (96, 128, 3)
    with urllib.request.urlopen(f"{base}/api/video/masks.zip") as response:
        assert "frames_masks.zip" in response.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(response.read()))

    # samhq-video on the same prompts (one entry per object and frame: all its clicks there)
    entries = [{"frame": f, "object": o, "points": p["points"], "labels": p["labels"],
                **({"box": p["box"]} if p["box"] else {})} for (f, o), p in direct.prompts.items()]
    entries = [{k: v for k, v in e.items() if v != []} for e in entries]
    (tmp_path / "prompts.json").write_text(json.dumps(entries))
    out = tmp_path / "samhq_video"
    assert video_command.main([
        "--frames", str(video_frames), "--prompts", str(tmp_path / "prompts.json"),
        "--checkpoint", str(hq_sam2_file), "--out", str(out), "--device", "cpu",
    ]) == 0
    assert sorted(archive.namelist()) == sorted(p.name for p in out.glob("*.png"))
    assert len(archive.namelist()) == 6
    for name in archive.namelist():
        written = Image.open(out / name)
        np.testing.assert_array_equal(png_ids(archive.read(name)), np.array(written), name)
        assert Image.open(io.BytesIO(archive.read(name))).getpalette() == written.getpalette()
    got = png_ids(base64.b64decode(record["mask"].split(",", 1)[1]))
    np.testing.assert_array_equal(got, np.array(Image.open(out / "00004.png")))


def as_tensor(masks):
    import torch

    return torch.from_numpy(masks[:, None].astype(np.float32))


def test_server_errors_are_one_json_line(video_server):
    base = video_server
    for path, body, named in [
        ("/api/video/masks?index=9", None, "frame 9 does not exist"),
        ("/api/video/frame?index=x", None, "frame 'x': give a frame number 0 to 5"),
        ("/api/video/masks.zip", None, "no masks yet"),
        ("/api/video/click", {"frame": 9, "object": 1, "point": [1, 1, 1]}, "frame 9 does not"),
        ("/api/video/propagate", {"direction": "both"}, "no clicks yet"),
        ("/api/video/undo", {}, "nothing to undo"),
        ("/api/video/remove", {"object": 3}, "object 3 has no clicks"),
        ("/api/video/click", [1], "must be a json object"),
        ("/api/video/pick", {"frame": 0, "point": [500, 1]}, "pick at [500, 1]: give a point"),
    ]:
        headers = None if body is None else {"Content-Type": "application/json"}
        status, answer = call(f"{base}{path}", body, headers)
        assert status == 400 and named in answer["error"], answer
        assert "\n" not in answer["error"]


def test_the_image_page_stays_and_the_video_api_needs_a_video(video_server, app_server):
    with urllib.request.urlopen(f"{video_server}/") as page:
        assert b"video masks" in page.read()
    with urllib.request.urlopen(f"{video_server}/image") as page:
        assert b"interactive masks" in page.read()
    base, _ = app_server
    with urllib.request.urlopen(f"{base}/") as page:
        assert b"interactive masks" in page.read()
    status, answer = call(f"{base}/api/video")
    assert status == 400 and "start the app with --video" in answer["error"]


def run_app(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        command.main([*args, "--port", "0", "--device", "cpu"], serve=False)
    assert exit_.value.code == 2
    *notes, err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("note:") for line in notes), notes
    return err


def test_bad_video_input_is_one_line_before_the_model(tmp_path, hq_sam2_file, tiny_checkpoint,
                                                      video_frames, capsys, monkeypatch):
    broken = tmp_path / "clip.mp4"
    broken.write_bytes(b"not a video")
    real_load = command.load_checkpoint

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(command, "load_checkpoint", refuse)
    for args, named in [
        ([str(hq_sam2_file), "--video", str(broken)], "clip.mp4: not a readable video file"),
        ([str(hq_sam2_file), "--video", str(tmp_path / "nowhere")], "frames folder not found"),
        (["--video", str(video_frames)], "--video needs a checkpoint that tracks"),
        ([str(hq_sam2_file), "--video", str(video_frames), "--max-frames", "0"], "--max-frames 0"),
        ([str(hq_sam2_file), "--max-frames", "3"], "--max-frames is for --video"),
        ([str(hq_sam2_file), "--video", str(video_frames), "--variant", "vit_b"], "sam1 model"),
    ]:
        err = run_app(args, capsys)
        assert err.startswith("error: ") and named in err, err
    monkeypatch.setattr(command, "load_checkpoint", real_load)
    monkeypatch.setattr(VideoPredictor, "set_video", refuse)  # refused before the frames resize
    err = run_app([str(tiny_checkpoint), "--video", str(video_frames)], capsys)
    assert "is a sam1 model: video tracking needs" in err, err
