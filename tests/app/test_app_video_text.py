"""The video page's text mode (--video with --bpe and a SAM 3 file that holds the detector):
every mask it shows is ConceptVideoSession's for the same calls, bit for bit (the preview of the
prompt frame, then every frame after propagating both ways), numbered as samhq-video
--detect-every-frame numbers them (the zip is its files, byte for byte); a pick names the object
drawn at a pixel; right after a removal each frame is the session's output without the object;
the page's thresholds reach the session at the next text prompt; a text prompt replaces the click
objects until Reset; bad input and a file without text prompts are one line. In chromium too (one
module: the miniature and the reference run are made once)."""

import io
import json
import urllib.request
import zipfile
from dataclasses import asdict, replace

import numpy as np
import pytest

from samhq_train.app import command
from samhq_train.app.command import main as app_main
from samhq_train.app.video_text import PAGE_SETTINGS
from samhq_train.inference.video import ConceptVideoSession
from samhq_train.model import load_checkpoint
from tests.documentation import documented_commands
from tests.inference.video.test_video_file import write_video_file

from .browser import chromium, missing
from .conftest import serving
from .test_app_browser import act
from .test_app_server import call
from .test_app_video import assert_picks, png_ids
from .test_app_video_browser import shown_ids, wait_idle

pytest.importorskip("sam3")

from .video_text_model import (  # noqa: E402
    CLICK_FRAME,
    CLICKS,
    NUM_FRAMES,
    PAGE_CHANGE,
    REMOVED,
    SETTINGS,
    TEXT,
    TEXT_FRAME,
    TextReference,
    assert_shows_output,
    write_text_video_files,
)

COMMANDS = [c for c in documented_commands()
            if c.program in ("samhq-app", "python scripts/app.py") and "--video" in c.args
            and "--bpe" in c.args]


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
        (lambda: session.click(0, 1, {"point": [25.0, 35.0, 1]}), "frame 0 has no masks of the"),
        (session.undo, "undo needs the click objects: the masks are the text prompt's now: "
                       "Reset returns to clicks"),
        (lambda: session.remove_object(99), "object 99 is not tracked"),
    ]:
        one_line_error(run, named)

    assert session.propagate("forward")["frames"] == NUM_FRAMES - TEXT_FRAME
    assert session.progress.total == NUM_FRAMES - TEXT_FRAME
    one_line_error(lambda: session.propagate("both"), f"the text {TEXT!r} is tracked forward")
    assert session.propagate("backward")["frames"] == TEXT_FRAME
    assert session.progress.total == TEXT_FRAME
    assert session.info()["tracked"] == list(range(NUM_FRAMES))
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
    assert session.info()["text_next"] == "serve the shown masks again"
    check_clicks(session, reference)
    check_page_settings(session, reference)

    info = session.reset()  # back to clicks
    assert info["text"] is None and info["tracked"] == []
    assert session.click(0, 1, {"point": [25.0, 35.0, 1]})["objects"] == [1]


def assert_files(session, files: dict[str, bytes]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(session.zip_bytes()))
    assert sorted(archive.namelist()) == sorted(files)
    for name, data in files.items():
        assert archive.read(name) == data, name


def assert_frames(session, outputs: dict, files: dict[str, bytes], reference) -> None:
    for frame in range(NUM_FRAMES):
        record = session.frame_masks(frame)
        values = record_values(record)
        np.testing.assert_array_equal(values, reference.picture(frame, files), err_msg=str(frame))
        assert_shows_output(values, record, outputs[frame], f"frame {frame}")
    assert_files(session, files)


def check_clicks(session, reference) -> None:
    """The reference's clicks, propagation, removal and propagation on the page's session: each
    click's answer at once, every frame after each propagation, the zips (samhq-video --prompts'
    files of the last round)."""
    one_line_error(lambda: session.click(CLICK_FRAME, 3, {"box": [1, 1, 9, 9]}), "not boxes")
    for (obj_id, point), expected in zip(CLICKS, reference.clicked):
        record = session.click(CLICK_FRAME, obj_id, {"point": list(point)})
        assert_shows_output(record_values(record), record, expected, f"click on {obj_id}")
    assert session.info()["text_tracked"] == reference.tracked_ids
    assert session.info()["text_next"] == "track the clicked objects 3, 15"
    answer = session.propagate("both")
    assert answer["frames"] == NUM_FRAMES and session.progress.total == 0  # backward: none left
    assert_frames(session, reference.round_outputs, reference.round_files, reference)
    for frame, output in reference.round_outputs.items():
        assert_picks(session, frame, output.obj_ids.tolist(), output.masks)
    assert session.propagate("forward")["frames"] == NUM_FRAMES  # twice in a row: served again
    assert_frames(session, reference.round_outputs, reference.round_files, reference)

    session.remove_object(REMOVED)
    for frame in range(NUM_FRAMES):  # at once: the session's output without it (served next)
        record = session.frame_masks(frame)
        assert_shows_output(record_values(record), record, reference.removed_outputs[frame],
                            f"frame {frame} right after the removal")
    assert any(others(reference.round_outputs[f]) != others(reference.removed_outputs[f])
               for f in range(NUM_FRAMES))  # it gave its pixels to another object somewhere
    assert session.info()["text_next"] == "serve the shown masks again"
    assert session.propagate("forward")["frames"] == NUM_FRAMES
    assert_frames(session, reference.removed_outputs, reference.removed_files, reference)


def others(output) -> dict[int, int]:
    """The areas of the objects other than REMOVED."""
    return {i: int(m.sum()) for i, m in zip(output.obj_ids.tolist(), output.masks) if i != REMOVED}


def check_page_settings(session, reference) -> None:
    """The page's thresholds are the file's until a text prompt sets them; then the session
    runs with them (its preview is the reference's under them) and concept.json records them;
    a bad one is one line and changes nothing."""
    assert session.info()["text_settings"] == {k: getattr(SETTINGS, k) for k in PAGE_SETTINGS}
    for settings, named in [
        ({"score_threshold_detection": 2}, "score_threshold_detection=2: expected a number in"),
        ({"new_det_thresh": None}, "new_det_thresh=None: expected a number in [0, 1]"),
        ({"hotstart_delay": 1}, "the page sets score_threshold_detection and new_det_thresh"),
        ([0.5], "settings [0.5]: the page sets"),
    ]:
        one_line_error(lambda s=settings: session.prompt_text(TEXT_FRAME, TEXT, s), named)
    assert session.info()["text_next"] == "serve the shown masks again"  # nothing changed
    record = session.prompt_text(TEXT_FRAME, TEXT, PAGE_CHANGE)
    assert_shows_output(record_values(record), record, reference.changed_preview, "thresholds")
    assert record["objects"] != reference.preview.obj_ids.tolist()
    info = session.info()
    assert info["text_settings"] == PAGE_CHANGE
    assert info["text_tracked"] == reference.changed_tracked
    concept = json.loads(zipfile.ZipFile(io.BytesIO(session.zip_bytes())).read("concept.json"))
    assert concept["settings"] == asdict(replace(SETTINGS, **PAGE_CHANGE))


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


def scrub(driver, frame: int) -> None:
    driver.execute_script(
        "const s = document.getElementById('frame'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));", str(frame))
    wait_idle(driver, f"frame {frame}", frame=str(frame))


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_text_prompt_in_the_browser(files, reference, tmp_path):
    from selenium.webdriver.common.keys import Keys

    with serving(app_args(files, tmp_path / "out")) as base, chromium() as driver:
        driver.get(base + "/")
        wait_idle(driver, "the first frame", frame="0")
        assert driver.find_element("id", "text-row").is_displayed()
        scrub(driver, TEXT_FRAME)
        driver.find_element("id", "text").send_keys(TEXT, Keys.ENTER)
        wait_idle(driver, "the text prompt's preview", texts="1")
        preview = shown_ids(driver)
        assert f"text mode: '{TEXT}' on frame {TEXT_FRAME}" in driver.find_element(
            "id", "text-mode").text
        assert not driver.find_element("id", "undo").is_enabled()  # clicks off in text mode
        driver.find_element("id", "propagate-both").click()
        wait_idle(driver, "the propagation", propagated="1")
        assert f"{NUM_FRAMES} frames tracked" in driver.find_element("id", "progress-text").text
        listed = driver.find_element("id", "text-objects").text
        scrub(driver, CLICK_FRAME)
        on_4 = shown_ids(driver)
        clicked = click_in_text_mode(driver, base)
        driver.find_element("id", "propagate-both").click()
        wait_idle(driver, "the propagation after the clicks", propagated="2")
        after_clicks = shown_ids(driver)
        with urllib.request.urlopen(f"{base}/api/video/masks.zip") as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
        before, removed, removed_record = pick_and_remove(driver, base, reference)
        changed = prompt_with_thresholds(driver)
        _, info = call(f"{base}/api/video")
        driver.save_screenshot(str(tmp_path / "video_text.png"))

    ids = reference.preview.obj_ids.tolist()
    expected = np.zeros_like(preview)
    for value, mask in enumerate(reference.preview.masks, 1):  # a preview numbers by id
        expected[mask] = value
    np.testing.assert_array_equal(preview, expected)
    assert len(ids) > 0
    np.testing.assert_array_equal(on_4, reference.picture(CLICK_FRAME))
    assert len(np.unique(on_4)) >= 4  # several objects shown
    first = min(reference.objects, key=lambda o: o["png_value"])
    assert f"1: {first['id']}, {first['score']:.3f}" in listed, listed
    for (shown, record), expected, (obj_id, _) in zip(clicked, reference.clicked, CLICKS):
        np.testing.assert_array_equal(shown, record_values(record))
        assert_shows_output(shown, record, expected, f"the click on object {obj_id}")
    np.testing.assert_array_equal(after_clicks,
                                  reference.picture(CLICK_FRAME, reference.round_files))
    assert sorted(archive.namelist()) == sorted(reference.round_files)
    for name, data in reference.round_files.items():
        assert archive.read(name) == data, name
    # the removal redrew the frame at once: the session's output without the object
    np.testing.assert_array_equal(removed, record_values(removed_record))
    assert_shows_output(removed, removed_record, reference.removed_outputs[1], "removed")
    assert not np.array_equal(before, removed)
    expected = np.zeros_like(changed)
    for value, mask in enumerate(reference.changed_preview.masks, 1):
        expected[mask] = value
    np.testing.assert_array_equal(changed, expected)
    assert info["text_settings"] == PAGE_CHANGE
    assert info["text_tracked"] == reference.changed_tracked


def pick_and_remove(driver, base, reference) -> tuple[np.ndarray, np.ndarray, dict]:
    """On frame 1: a click in "pick object" mode on REMOVED's mask chooses it, "Remove object"
    drops it; (the PNG shown before, after, the server's record of the frame)."""
    scrub(driver, 1)
    before = shown_ids(driver)
    output = reference.round_outputs[1]
    mask = output.masks[output.obj_ids.tolist().index(REMOVED)]
    y, x = np.argwhere(mask)[mask.sum() // 2]
    act(driver, driver.find_element("id", "video-canvas"), ("pick", x + 0.5, y + 0.5))
    wait_idle(driver, "the pick", picked="1")
    assert driver.find_element("id", "object").get_attribute("value") == str(REMOVED)
    driver.find_element("id", "remove-object").click()
    wait_idle(driver, "the removal", removed="1")
    _, record = call(f"{base}/api/video/masks?index=1")
    return before, shown_ids(driver), record


def prompt_with_thresholds(driver) -> np.ndarray:
    """The thresholds shown (the settings file's) set to PAGE_CHANGE, then the text again on
    its frame; the PNG shown."""
    from selenium.webdriver.common.keys import Keys

    for element, name in [("text-threshold", "score_threshold_detection"),
                          ("text-new-threshold", "new_det_thresh")]:
        field = driver.find_element("id", element)
        assert float(field.get_attribute("value")) == getattr(SETTINGS, name)
        field.clear()
        field.send_keys(str(PAGE_CHANGE[name]))
    scrub(driver, TEXT_FRAME)
    text = driver.find_element("id", "text")
    text.clear()
    text.send_keys(TEXT, Keys.ENTER)
    wait_idle(driver, "the text with the thresholds changed", texts="2")
    return shown_ids(driver)


def click_in_text_mode(driver, base) -> list[tuple[np.ndarray, dict]]:
    """CLICKS on the page (object 3 chosen in the list, then New object): after each, the PNG
    shown and the server's record of the frame."""
    from selenium.webdriver.support.ui import Select

    canvas = driver.find_element("id", "video-canvas")
    # at whole viewport pixels (the layout above may place it at a fraction of one): the page's
    # points are then the reference's, exactly
    driver.execute_script("Object.assign(arguments[0].style, {position: 'fixed', left: '1090px',"
                          " top: '200px'})", canvas)
    shown = []
    for answered, (obj_id, (x, y, label)) in enumerate(CLICKS, 1):
        if obj_id in [int(o.get_attribute("value")) for o in
                      Select(driver.find_element("id", "object")).options]:
            Select(driver.find_element("id", "object")).select_by_value(str(obj_id))
        else:
            driver.find_element("id", "new-object").click()
            assert driver.find_element("id", "object").get_attribute("value") == str(obj_id)
        act(driver, canvas, (str(label), x, y))
        wait_idle(driver, f"the click on object {obj_id}", answered=str(answered))
        with urllib.request.urlopen(f"{base}/api/video/masks?index={CLICK_FRAME}") as response:
            record = json.loads(response.read())
        assert [p["points"] for p in record["prompts"] if p["object"] == obj_id] == [[[x, y]]]
        shown.append((shown_ids(driver), record))
    line = driver.find_element("id", "text-mode").text
    assert "next propagation: track the clicked objects 3, 15" in line
    assert "with 'pick object' click its mask" in line
    return shown


def test_the_readme_text_command_runs(files, tmp_path):
    """As written (Meta's default settings), with stand-ins for sam3.pt, the merges file and
    clip.mp4: the video page takes a text and its preview is the session's."""
    assert len(COMMANDS) == 1
    clip = write_video_file(tmp_path / "clip.mp4", files["video"], "mp4v")
    stand_ins = {"sam3.pt": files["checkpoint"], "bpe_simple_vocab_16e6.txt.gz": files["bpe"],
                 "clip.mp4": clip}
    args = [str(stand_ins.get(a, a)) for a in COMMANDS[0].args]
    server = app_main([*args, "--port", "0", "--device", "cpu", "--out", str(tmp_path / "out")],
                      serve=False)
    server.server_close()
    session = server.RequestHandlerClass.app.video
    record = session.prompt_text(4, TEXT)  # where Meta's settings find one on the clip
    direct = ConceptVideoSession(load_checkpoint(files["checkpoint"]).eval(), files["bpe"],
                                 use_hq=False)
    direct.set_video(clip)
    output = direct.add_prompt(4, TEXT)
    expected = np.zeros(session.video.size, np.uint8)
    for value, mask in enumerate(output.masks, 1):
        expected[mask] = value
    np.testing.assert_array_equal(record_values(record), expected)
    assert record["objects"] == output.obj_ids.tolist() and len(output.obj_ids) > 0
