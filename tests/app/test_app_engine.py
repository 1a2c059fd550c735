"""The app's engine and upload checks without the HTTP server: the prompt after each step (the
last box), options in the kept results, the default refine, the kept images, the score of a
single mask, the bounds of a step, and what an upload may be."""

import cv2
import numpy as np
import pytest

from samhq_train.app import server
from samhq_train.app.engine import (
    KEPT_IMAGES,
    MAX_STEPS,
    AppError,
    Options,
    Segmenter,
    _choose,
    check_steps,
)
from samhq_train.image_header import MAX_PIXELS_ENV
from samhq_train.inference import SamHQPredictor
from samhq_train.model import load_checkpoint

from .conftest import demo_image, reference_masks

BOXES_THEN_POINT = [
    {"box": [60.0, 40.0, 250.0, 220.0]},
    {"point": [150.0, 120.0, 1]},
    {"box": [20.0, 30.0, 180.0, 160.0]},
]


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return Segmenter(load_checkpoint(tiny_checkpoint))


def test_the_last_box_is_the_prompt_and_options_key_the_kept_results(segmenter, tiny_checkpoint):
    image = demo_image(4)
    image_id = segmenter.set_image(image, "demo-4")["image_id"]
    for refine in (True, False):  # the same steps again with other options: decoded anew
        expected = reference_masks(tiny_checkpoint, image, BOXES_THEN_POINT, refine=refine)
        for n in range(1, len(BOXES_THEN_POINT) + 1):
            result, _ = segmenter.segment(image_id, BOXES_THEN_POINT[:n], Options(refine=refine))
            np.testing.assert_array_equal(result.hq.mask, expected[n - 1][0])
            np.testing.assert_array_equal(result.sam.mask, expected[n - 1][1])
    # hq_token_only reaches the SAM-HQ side (SAM's side has no HQ token)
    predictor = SamHQPredictor(load_checkpoint(tiny_checkpoint))
    predictor.set_image(image)
    box = np.asarray(BOXES_THEN_POINT[0]["box"])
    only, _, _ = predictor.predict(box=box, multimask_output=False, hq_token_only=True)
    both, _, _ = predictor.predict(box=box, multimask_output=False)
    assert (only != both).any()  # the option changes this mask: the comparison can fail
    result, _ = segmenter.segment(image_id, BOXES_THEN_POINT[:1], Options(hq_token_only=True))
    np.testing.assert_array_equal(result.hq.mask, only[0])


def test_refine_is_on_unless_the_request_says_otherwise(segmenter, tiny_checkpoint, tmp_path):
    app = server.App(segmenter, tmp_path, log=lambda line: None)
    image = demo_image(5)
    image_id = app.open_image(image, "demo-5")["image_id"]
    steps = [{"point": [150.0, 120.0, 1]}, {"point": [40.5, 30.25, 0]}]
    refined = reference_masks(tiny_checkpoint, image, steps, refine=True)[-1]
    plain = reference_masks(tiny_checkpoint, image, steps, refine=False)[-1]
    assert (refined[0] != plain[0]).any()  # the previous mask changes this one
    result, _, _ = app._segment({"image_id": image_id, "steps": steps})
    np.testing.assert_array_equal(result.hq.mask, refined[0])


def test_the_last_images_are_kept_and_a_repeated_image_is_renamed(segmenter):
    ids = []
    for i in range(KEPT_IMAGES + 1):
        image = np.full((24, 32, 3), 10 * i, np.uint8)
        ids.append(segmenter.set_image(image, f"img{i}")["image_id"])
    with pytest.raises(AppError, match="no longer loaded"):
        segmenter.entry(ids[0])
    names = [segmenter.entry(i)["name"] for i in ids[1:]]
    assert names == [f"img{i}" for i in range(1, KEPT_IMAGES + 1)]
    again = segmenter.set_image(np.full((24, 32, 3), 10, np.uint8), "renamed")
    assert again["cached"] and segmenter.entry(again["image_id"])["name"] == "renamed"
    # the same bytes in another shape are another image
    flat = np.zeros((4, 6, 3), np.uint8)
    assert (
        segmenter.set_image(flat, "a")["image_id"]
        != segmenter.set_image(flat.reshape(6, 4, 3), "b")["image_id"]
    )


def test_one_mask_takes_its_best_score_and_several_the_best_mask():
    masks = np.arange(3)[:, None, None] == np.zeros((3, 2, 2))
    low_res = np.arange(3, dtype=np.float32)[:, None, None, None] * np.ones((3, 1, 4, 4))
    one = _choose(masks[:1], np.array([0.2, 0.9, 0.5]), low_res[:1])
    assert one.iou == pytest.approx(0.9) and one.low_res.shape == (1, 1, 4, 4)
    best = _choose(masks, np.array([0.2, 0.9, 0.5]), low_res)
    assert best.iou == pytest.approx(0.9) and (best.mask == masks[1]).all()
    assert best.low_res.shape == (1, 1, 4, 4) and (best.low_res == 1).all()


def test_steps_may_touch_the_image_edges_and_not_go_past_them():
    size = (256, 320)  # h, w
    edges = [{"point": [320, 256, 1]}, {"point": [300.0, 10.0, 0]}, {"box": [0, 0, 320, 256]}]
    assert [kind for kind, _ in check_steps(edges, size)] == ["point", "point", "box"]
    for bad, message in [
        ({"point": [320.5, 10, 1]}, "outside the 320 x 256 image"),
        ({"point": [10, 256.5, 1]}, "outside the 320 x 256 image"),
        ({"box": [10, 10, 10, 50]}, "x0 < x1"),
        ({"box": [10, 50, 30, 50]}, "y0 < y1"),
        ({"box": [0, 0, 300, 257]}, "inside the 320 x 256 image"),
    ]:
        with pytest.raises(AppError, match=message):
            check_steps([bad], size)
    check_steps([{"point": [1, 1, 1]}] * MAX_STEPS, size)
    with pytest.raises(AppError, match=f"{MAX_STEPS + 1} prompts: at most {MAX_STEPS}"):
        check_steps([{"point": [1, 1, 1]}] * (MAX_STEPS + 1), size)


def test_an_upload_is_decoded_as_rgb_and_bad_uploads_are_named(monkeypatch):
    image = demo_image(1)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(server.decode_upload(png.tobytes(), "a.png"), image)
    ok, jpeg = cv2.imencode(".jpg", image)
    with pytest.raises(AppError, match=r"cut.jpg is truncated \(JPEG end marker missing\)"):
        server.decode_upload(jpeg.tobytes()[: len(jpeg) // 2], "cut.jpg")
    monkeypatch.setenv(MAX_PIXELS_ENV, str(image.shape[0] * image.shape[1] - 1))
    with pytest.raises(AppError, match="big.png is 320 x 256 = 81,920 pixels, over the pixel"):
        server.decode_upload(png.tobytes(), "big.png")


def test_saved_names_are_plain_stems():
    assert server.safe_stem("../a b/..cat photo_.png") == "cat_photo"
    assert server.safe_stem("...png") == "image"
    assert len(server.safe_stem("x" * 200 + ".png")) == 80
