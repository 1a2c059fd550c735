"""The text mode in a real browser (Debian's chromium): type a noun phrase, see the instances
listed, drag an example box, and the masks the page offers for download and the saved ones equal
ConceptPredictor's for the same prompt, bit for bit."""

import json
import time

import cv2
import numpy as np
import pytest

from .browser import chromium, missing
from .conftest import serving
from .test_app_browser import data_url_bytes, downloaded_mask, wait_for

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
pytest.importorskip("sam3")

from .concept_model import TEXT, Reference, write_concept_files  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_concept_files(tmp_path_factory.mktemp("concept_browser"))


def wait_found(driver, asked: int):
    wait_for(
        driver,
        f"document.body.dataset.conceptBusy === '0' && "
        f"document.body.dataset.conceptAnswered === '{asked}'",
        f"concept answer {asked}",
    )


def drag(driver, canvas, box):
    """Drag from (x0, y0) to (x1, y1), image pixels, on a canvas shown at any scale."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    left, top, width = driver.execute_script(
        "const c = arguments[0]; c.scrollIntoView({block: 'nearest'});"
        "const r = c.getBoundingClientRect(); return [r.left, r.top, r.width];",
        canvas,
    )
    scale = (width - 2) / int(canvas.get_attribute("width"))

    def viewport(x, y):
        return int(round(left + 1 + x * scale)), int(round(top + 1 + y * scale))

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(*viewport(*box[:2])).pointer_down()
    actions.pointer_action.move_to_location(*viewport(*box[2:])).pointer_up()
    actions.perform()


def set_value(driver, element_id, value):
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('change'));",
        element_id, value,
    )


def page_masks(driver, count):
    return np.stack([downloaded_mask(driver, f"concept-mask-{i}") for i in range(count)])


def test_text_prompt_in_the_browser_gives_the_predictors_instances(files, tmp_path):
    from selenium.webdriver.common.keys import Keys

    checkpoint, bpe = files
    reference = Reference(checkpoint, bpe)
    threshold = round(reference.middle_threshold(TEXT), 4)
    out = tmp_path / "app_out"
    started = time.monotonic()
    with serving([str(checkpoint), "--bpe", str(bpe), "--out", str(out)]) as base, \
            chromium() as driver:
        driver.get(base + "/")
        wait_for(
            driver,
            "document.body.dataset.image === 'demo-val-0000' && "
            "!document.getElementById('concept').hidden",
            "the first demo image and the text box",
        )
        set_value(driver, "concept-threshold-value", str(threshold))
        driver.find_element("id", "concept-text").send_keys(TEXT + Keys.ENTER)
        wait_found(driver, 1)
        found = reference(TEXT, threshold=threshold)
        items = driver.find_elements("css selector", "#concept-list li")
        assert len(items) == len(found) == 6
        assert np.array_equal(page_masks(driver, len(found)), found.masks)
        href = driver.find_element("id", "concept-download-json").get_attribute("href")
        record = json.loads(data_url_bytes(href))
        assert record["text"] == TEXT and record["threshold"] == threshold
        scores = np.array([i["score"] for i in record["instances"]], np.float32)
        assert np.array_equal(scores, found.scores)

        # an example box dragged on the instances image joins the prompt
        drag(driver, driver.find_element("id", "concept-canvas"), (30, 40, 160, 150))
        wait_found(driver, 2)
        exemplars = driver.execute_script("return window.conceptState.exemplars;")
        assert len(exemplars) == 1 and exemplars[0]["label"] == 1
        np.testing.assert_allclose(exemplars[0]["box"], (30, 40, 160, 150), atol=0.75)
        found = reference(TEXT, exemplars, threshold)
        count = len(driver.find_elements("css selector", "#concept-list li"))
        assert count == len(found) > 0
        assert np.array_equal(page_masks(driver, count), found.masks)
        driver.save_screenshot(str(tmp_path / "concept.png"))

        driver.find_element("id", "concept-save").click()
        wait_for(driver, "document.getElementById('message').textContent.startsWith('saved')",
                 "the save")
        saved = json.loads((out / "demo-val-0000_concept.json").read_text())
        assert len(saved["instances"]) == len(found)
        for i, instance in enumerate(saved["instances"]):
            mask = cv2.imread(str(out / instance["mask"]), cv2.IMREAD_UNCHANGED) > 127
            assert np.array_equal(mask, found.masks[i])

        # bad input is one line in the page
        set_value(driver, "concept-threshold-value", "1.5")
        wait_found(driver, 3)
        text = driver.find_element("id", "message").text
        assert "threshold must be a number in [0, 1), got 1.5" in text and "\n" not in text
        assert not driver.find_elements("css selector", "#concept-list li")
        set_value(driver, "concept-threshold-value", str(threshold))
        driver.find_element("id", "concept-clear").click()
        driver.find_element("id", "concept-text").clear()
        driver.find_element("id", "concept-find").click()
        wait_found(driver, 4)
        assert "the text prompt is empty" in driver.find_element("id", "message").text
    print(f"concept browser test: {time.monotonic() - started:.1f} s; screenshot "
          f"{tmp_path / 'concept.png'}")
