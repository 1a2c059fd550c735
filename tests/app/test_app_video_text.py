"""The video page's text mode (--video with --bpe and a SAM 3 file that holds the detector):
every mask it shows is ConceptVideoSession's for the same calls, bit for bit (the preview of the
prompt frame, then every frame after propagating both ways), numbered as samhq-video
--detect-every-frame numbers them (the zip is its files, byte for byte); a text prompt replaces
the click objects until Reset; bad input and a file without text prompts are one line."""

import io
import zipfile

import numpy as np
import pytest

from samhq_train.app import command
from samhq_train.app.command import main as app_main

from .test_app_server import call
from .test_app_video import png_ids

pytest.importorskip("sam3")

from .video_text_model import (  # noqa: E402
    NUM_FRAMES,
    TEXT,
    TEXT_FRAME,
    TextReference,
    assert_shows_output,
    write_text_video_files,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_text_video_files(tmp_path_factory.mktemp("video_text"))


@pytest.fixture(scope="module")
def reference(files):
    return TextReference(files)


def app_args(files, out) -> list[str]:
    return [str(files["checkpoint"]), "--video", str(files["video"]), "--bpe", str(files["bpe"]),
            "--concept-settings", str(files["settings"]), "--out", str(out)]


def record_values(record: dict) -> np.ndarray:
    import base64

    return png_ids(base64.b64decode(record["mask"].split(",", 1)[1]))


def one_line_error(run, named: str) -> None:
    with pytest.raises(Exception, match="^") as err:
        run()
    assert named in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_text_prompts_give_the_sessions_masks_and_samhq_videos_files(files, reference, tmp_path):
    server = app_main([*app_args(files, tmp_path / "out"), "--port", "0", "--device", "cpu"],
                      serve=False)
    server.server_close()
    session = server.RequestHandlerClass.app.video
    assert session.info()["text_prompts"] is True and session.info()["text"] is None
    session.click(0, 1, {"point": [25.0, 35.0, 1]})  # click mode first
    one_line_error(lambda: session.prompt_text(TEXT_FRAME, "  "), "the text prompt is empty")
    assert session.info()["clicks"] == 1  # a refused text keeps the clicks

    preview = session.prompt_text(TEXT_FRAME, TEXT)
    assert session.info()["objects"] == [] and session.info()["clicks"] == 0  # clicks replaced
    # the forward pass gives the prompt frame again with other objects: the numbering restarts
    assert 0 < len(reference.preview.obj_ids)
    assert reference.preview.obj_ids.tolist() != reference.outputs[TEXT_FRAME].obj_ids.tolist()
    assert_shows_output(record_values(preview), preview, reference.preview, "preview")
    for run, named in [
        (lambda: session.click(0, 1, {"point": [25.0, 35.0, 1]}), "a click needs the click"),
        (session.undo, "undo needs the click objects: the masks are the text prompt's now: "
                       "Reset returns to clicks"),
        (lambda: session.remove_object(1), "removing an object needs the click objects"),
    ]:
        one_line_error(run, named)

    assert session.propagate("both")["frames"] == NUM_FRAMES
    shown = 0
    for frame in range(NUM_FRAMES):
        record = session.frame_masks(frame)
        values = record_values(record)
        np.testing.assert_array_equal(values, reference.picture(frame), err_msg=str(frame))
        assert_shows_output(values, record, reference.outputs[frame], f"frame {frame}")
        shown += len(record["objects"])
    assert shown >= 10 and len(reference.objects) >= 8  # objects come and go
    objects = session.info()["text_objects"]
    assert [(o["id"], o["value"], round(o["score"], 6)) for o in objects] == [
        (o["id"], o["png_value"], o["score"]) for o in sorted(reference.objects,
                                                              key=lambda o: o["png_value"])]
    archive = zipfile.ZipFile(io.BytesIO(session.zip_bytes()))
    assert sorted(archive.namelist()) == sorted(reference.files)
    for name, data in reference.files.items():
        assert archive.read(name) == data, name
    one_line_error(lambda: session.propagate("forward"), f"the text {TEXT!r} is tracked forward")

    info = session.reset()  # back to clicks
    assert info["text"] is None and info["tracked"] == []
    assert session.click(0, 1, {"point": [25.0, 35.0, 1]})["objects"] == [1]


def test_text_refused_without_the_detector_and_bad_settings_before_the_model(
    video_server, files, tmp_path, capsys, monkeypatch
):
    status, answer = call(f"{video_server}/api/video/text", {"frame": 0, "text": "a cat"},
                          {"Content-Type": "application/json"})
    assert status == 400 and answer["error"].startswith("no text prompts: start the app with")
    _, info = call(f"{video_server}/api/video")
    assert info["text_prompts"] is False

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(command, "load_checkpoint", refuse)
    bad = tmp_path / "bad.json"
    bad.write_text('{"hotstart_dely": 2}')
    args = app_args(files, tmp_path / "out")
    no_bpe = [a for a in args if a not in ("--bpe", str(files["bpe"]))]
    for argv, named in [
        ([*args[:-4], "--concept-settings", str(bad)], "unknown setting 'hotstart_dely'"),
        (no_bpe, "--concept-settings is for the video page's text prompts"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            command.main([*argv, "--port", "0", "--device", "cpu"], serve=False)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
