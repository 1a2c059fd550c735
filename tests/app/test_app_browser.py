"""The app in a real browser (Debian's chromium): click points and draw a box on the page, and the
mask PNG the page offers for download equals SamHQPredictor's for the same prompts."""

import base64
import threading
import time
import urllib.parse
import urllib.request

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.app.api import App
from samhq_train.app.engine import KEPT_IMAGES
from samhq_train.inference.prompt_file import read_prompt_file

from .browser import chromium, console_errors, missing
from .conftest import demo_image, reference_masks

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

# (what to do, image x, y[, x1, y1]) on the demo image 0 (320 x 256, shown at its own size)
ACTIONS = [("1", 150, 120), ("0", 40, 30), ("box", 60, 40, 250, 220), ("1", 200, 150)]


def wait_for(driver, condition, what, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(f"return {condition};"):
            return
        time.sleep(0.05)
    message = driver.find_element("id", "message").text
    raise AssertionError(f"page did not reach {what} in {timeout} s; message: {message!r}")


def wait_answered(driver, steps):
    wait_for(
        driver,
        f"document.body.dataset.busy === '0' && document.body.dataset.answered === '{steps}'",
        f"{steps} answered steps",
    )


def act(driver, canvas, action):
    """Click / drag on the canvas at image pixels (1 px border; shown at any scale)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    kind, *xy = action
    driver.find_element("css selector", f"input[name=mode][value='{kind}']").click()
    left, top, width = driver.execute_script(
        "const c = arguments[0]; c.scrollIntoView({block: 'nearest'});"
        "const r = c.getBoundingClientRect(); return [r.left, r.top, r.width];",
        canvas,
    )
    scale = (width - 2) / int(canvas.get_attribute("width"))  # shown size / image size

    def viewport(x, y):  # W3C pointer positions are integer viewport pixels
        return int(round(left + 1 + x * scale)), int(round(top + 1 + y * scale))

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(*viewport(*xy[:2])).pointer_down()
    if kind == "box":
        actions.pointer_action.move_to_location(*viewport(*xy[2:]))
    actions.pointer_action.pointer_up()
    actions.perform()


def data_url_bytes(url: str) -> bytes:
    head, data = url.split(",", 1)
    return (
        base64.b64decode(data) if head.endswith(";base64") else urllib.parse.unquote(data).encode()
    )


def downloaded_mask(driver, link="download-mask") -> np.ndarray:
    href = driver.find_element("id", link).get_attribute("href")
    png = np.frombuffer(data_url_bytes(href), np.uint8)
    return cv2.imdecode(png, cv2.IMREAD_UNCHANGED) > 127


def check_clicks(driver, tiny_checkpoint, tmp_path):
    """Boxes and points on both canvases give the predictor's masks, the prompt file and undo."""
    canvas = driver.find_element("id", "hq-canvas")
    assert (canvas.size["width"], canvas.size["height"]) == (642, 514)  # 2 x 320 x 256 + border
    masks = []  # (SAM-HQ, SAM) downloads after each prompt
    for n, action in enumerate(ACTIONS, 1):
        act(driver, canvas if n % 2 else driver.find_element("id", "sam-canvas"), action)
        wait_answered(driver, n)
        masks.append((downloaded_mask(driver), downloaded_mask(driver, "download-sam-mask")))
    steps = driver.execute_script("return window.appState.steps;")
    driver.save_screenshot(str(tmp_path / "app.png"))

    # the page's prompts are where the test clicked, in image pixels
    for step, (kind, *xy) in zip(steps, ACTIONS):
        got = step["box"] if kind == "box" else step["point"][:2]
        np.testing.assert_allclose(got, xy, atol=0.75)
        if kind != "box":
            assert step["point"][2] == int(kind)
    expected = reference_masks(tiny_checkpoint, demo_image(0), steps)
    for n, ((hq, sam), (hq_expected, sam_expected)) in enumerate(zip(masks, expected), 1):
        assert 0 < hq.sum() < hq.size
        np.testing.assert_array_equal(hq, hq_expected, err_msg=f"SAM-HQ after {n} prompts")
        np.testing.assert_array_equal(sam, sam_expected, err_msg=f"SAM after {n} prompts")

    # the prompt file offered for download is predict's format, with the page's prompts
    href = driver.find_element("id", "download-prompts").get_attribute("href")
    prompt_path = tmp_path / "prompts.json"
    prompt_path.write_bytes(data_url_bytes(href))
    prompts = read_prompt_file(prompt_path)
    np.testing.assert_array_equal(prompts.boxes, [steps[2]["box"]])
    np.testing.assert_array_equal(prompts.points, [s["point"] for s in steps if "point" in s])

    driver.find_element("id", "undo").click()
    wait_answered(driver, len(ACTIONS) - 1)
    np.testing.assert_array_equal(downloaded_mask(driver), expected[-2][0])
    assert console_errors(driver) == []  # a page load asks for no missing favicon either


def check_a_late_answer(driver, slow: threading.Event):
    # an answer still on its way when another image opens is not drawn on the new image
    slow.set()
    result, steps, busy = driver.execute_async_script(
        "const done = arguments[0];"
        "state.steps.push({point: [100, 100, 1]}); const pending = segment();"
        "openImage({path: '/api/demo?index=2'}, 'demo-val-0002').then(() => pending)"
        ".then(() => done([state.result, state.steps.length, document.body.dataset.busy]));"
    )
    slow.clear()
    assert (result, steps, busy) == (None, 0, "0")
    assert driver.find_element("id", "download-mask").get_attribute("href") is None


def check_an_exif_turned_upload_let_go_and_sent_again(driver, base, tiny_checkpoint, tmp_path):
    # a large image is shown shrunk to fit, its shape kept (not stretched by the CSS max-width);
    # a photo whose EXIF says "rotated 90" is shown, clicked and masked as stored (the page
    # draws the server's decoded pixels, not the file), and the page says so
    wide = tmp_path / "wide.jpg"
    exif = Image.Exif()
    exif[image_header.EXIF_ORIENTATION] = 6
    Image.fromarray(np.tile(demo_image(1), (1, 5, 1))[:200]).save(wide, exif=exif)  # 1600x200
    assert driver.find_element("id", "image-note").text == ""
    driver.find_element("id", "file").send_keys(str(wide))
    wait_for(driver, "document.body.dataset.image === 'wide.jpg' && "
             "document.body.dataset.busy === '0'", "the wide image")
    for side in ("hq-canvas", "sam-canvas"):
        size = driver.find_element("id", side).size
        assert (size["width"], size["height"]) == (642, 82), side  # 640 x 80 + border
    note = driver.find_element("id", "image-note").text
    assert note.startswith("wide.jpg has EXIF orientation 6 (viewers show it rotated 90)")
    act(driver, driver.find_element("id", "hq-canvas"), ("1", 800, 100))
    wait_answered(driver, 1)
    href = driver.find_element("id", "download-mask").get_attribute("href")
    png = cv2.imdecode(np.frombuffer(data_url_bytes(href), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (200, 1600) and set(np.unique(png)) <= {0, 255}  # the upload's size
    assert driver.find_element("id", "image-note").text == note  # a click keeps the note

    # another tab opens KEPT_IMAGES images, so the server lets this one go: the next click
    # sends the file again (the page still holds it) and both clicks are decoded as before
    for index in range(1, KEPT_IMAGES + 1):
        urllib.request.urlopen(f"{base}/api/demo?index={index}", timeout=60).read()
    act(driver, driver.find_element("id", "sam-canvas"), ("0", 300, 50))
    wait_answered(driver, 2)
    assert driver.find_element("id", "message").get_attribute("class") != "error"
    steps = driver.execute_script("return window.appState.steps;")
    expected = reference_masks(tiny_checkpoint, imaging.read_image(wide), steps)[-1]
    np.testing.assert_array_equal(downloaded_mask(driver), expected[0])
    np.testing.assert_array_equal(downloaded_mask(driver, "download-sam-mask"), expected[1])

    # after a demo, the same file chosen again opens again (the file input was cleared)
    driver.find_element("id", "open-demo").click()
    wait_for(driver, "document.body.dataset.image === 'demo-val-0000' && "
             "document.body.dataset.busy === '0'", "the demo image")
    driver.find_element("id", "file").send_keys(str(wide))
    wait_for(driver, "document.body.dataset.image === 'wide.jpg' && "
             "document.body.dataset.busy === '0'", "the wide image again", timeout=10)


def check_a_bad_image(driver, tmp_path):
    # a bad image is one line in the page, and the page keeps working
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    driver.find_element("id", "file").send_keys(str(bad))
    wait_for(
        driver, "document.getElementById('message').className === 'error'", "an error line"
    )
    text = driver.find_element("id", "message").text
    assert "broken.jpg" in text and "Traceback" not in text and "\n" not in text
    driver.execute_script("message('');")  # the same file chosen again is refused again
    driver.find_element("id", "file").send_keys(str(bad))
    wait_for(driver, "document.getElementById('message').className === 'error'",
             "the error line again", timeout=10)
    driver.find_element("id", "reset").click()
    wait_answered(driver, 0)
    assert driver.find_element("id", "download-mask").get_attribute("href") is None


def test_clicks_in_the_browser_give_the_predictors_masks(
    app_server, tiny_checkpoint, tmp_path, monkeypatch
):
    base, _ = app_server
    slow = threading.Event()  # while set, each segment answer waits a second first
    segment = App.segment

    def slow_segment(self, body):
        if slow.is_set():
            time.sleep(1.0)
        return segment(self, body)

    monkeypatch.setattr(App, "segment", slow_segment)
    started = time.monotonic()
    with chromium() as driver:
        driver.get(base + "/")
        wait_for(
            driver,
            "document.body.dataset.image === 'demo-val-0000' && document.body.dataset.busy === '0'",
            "the first demo image",
        )
        check_clicks(driver, tiny_checkpoint, tmp_path)
        check_a_late_answer(driver, slow)
        check_an_exif_turned_upload_let_go_and_sent_again(driver, base, tiny_checkpoint, tmp_path)
        check_a_bad_image(driver, tmp_path)
    print(f"browser test: {time.monotonic() - started:.1f} s; screenshot {tmp_path / 'app.png'}")
