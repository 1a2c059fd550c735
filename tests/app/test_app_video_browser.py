"""The video page in a real browser (Debian's chromium): click two objects on a synthetic video,
propagate, scrub, correct a tracked frame and propagate again; the mask PNG the page offers for
a later frame equals VideoPredictor's for the same calls."""

import io
import time

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video.command import id_mask
from samhq_train.model import load_checkpoint

from .browser import chromium, missing
from .test_app_browser import act, data_url_bytes, wait_for
from .test_app_server import call
from .video_reference import Direct

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def wait_idle(driver, what, **dataset):
    checks = " && ".join(f"document.body.dataset.{k} === '{v}'" for k, v in dataset.items())
    wait_for(driver, f"document.body.dataset.busy === '0' && {checks}", what)


def shown_ids(driver) -> np.ndarray:
    """The ids of the frame's indexed mask PNG the page offers (its palette indices)."""
    href = driver.find_element("id", "download-frame-mask").get_attribute("href")
    picture = Image.open(io.BytesIO(data_url_bytes(href)))
    assert picture.mode == "P"
    return np.array(picture)


def expected_ids(direct: Direct, frame: int) -> np.ndarray:
    import torch

    ids, masks = direct.masks[frame]
    return id_mask(ids, torch.from_numpy(masks[:, None].astype(np.float32)))


def test_clicks_propagation_and_scrubbing_in_the_browser(video_server, video_frames, hq_sam2_file,
                                                        tmp_path):
    base = video_server
    started = time.monotonic()
    with chromium() as driver:
        driver.get(base + "/")
        wait_idle(driver, "the first frame", frame="0")
        canvas = driver.find_element("id", "video-canvas")
        act(driver, canvas, ("1", 25, 35))  # object 1: a positive point
        wait_idle(driver, "the first click's masks", answered="1")
        driver.find_element("id", "new-object").click()
        act(driver, canvas, ("box", 70, 20, 110, 60))  # object 2: a box
        wait_idle(driver, "the box's masks", answered="2")
        _, first = call(f"{base}/api/video/masks?index=0")
        driver.find_element("id", "propagate-both").click()
        wait_idle(driver, "the propagation", propagated="1")
        assert "6 frames tracked" in driver.find_element("id", "progress-text").text
        for _ in range(4):
            driver.find_element("id", "next").click()
        wait_idle(driver, "frame 4", frame="4")
        on_4 = shown_ids(driver)

        driver.find_element("id", "prev").click()  # a correction on tracked frame 3, object 1
        wait_idle(driver, "frame 3", frame="3")
        driver.find_element("css selector", "#object option[value='1']").click()
        act(driver, canvas, ("0", 50, 35))
        wait_idle(driver, "the correction", answered="3")
        _, corrected = call(f"{base}/api/video/masks?index=3")
        driver.find_element("id", "propagate-forward").click()
        wait_idle(driver, "the second propagation", propagated="2")
        driver.execute_script(
            "const s = document.getElementById('frame'); s.value = '5';"
            "s.dispatchEvent(new Event('input'));"
        )
        wait_idle(driver, "frame 5", frame="5")
        on_5 = shown_ids(driver)
        driver.save_screenshot(str(tmp_path / "video.png"))

    # the page's clicks are where the test clicked (video pixels), then the same calls directly
    point, box = first["prompts"]
    np.testing.assert_allclose(point["points"], [[25, 35]], atol=0.75)
    np.testing.assert_allclose(box["box"], [70, 20, 110, 60], atol=0.75)
    (correction,) = corrected["prompts"]
    np.testing.assert_allclose(correction["points"], [[50, 35]], atol=0.75)
    assert (point["object"], box["object"], correction["object"]) == (1, 2, 1)
    assert correction["labels"] == [0]
    direct = Direct(load_checkpoint(hq_sam2_file).eval(), video_frames)
    direct.run([(0, 1, {"point": [*point["points"][0], 1]}), (0, 2, {"box": box["box"]}),
                "both"])
    np.testing.assert_array_equal(on_4, expected_ids(direct, 4))
    assert (on_4 > 0).any()
    direct.run([(3, 1, {"point": [*correction["points"][0], 0]}), "forward"])
    np.testing.assert_array_equal(on_5, expected_ids(direct, 5))
    print(f"video browser test: {time.monotonic() - started:.1f} s; {tmp_path / 'video.png'}")
