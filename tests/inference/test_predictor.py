"""SamHQPredictor against the official segment_anything_hq SamPredictor on the same tiny weights."""

import numpy as np
import pytest
import torch

from samhq_train.inference import (
    ImageReadError,
    PromptError,
    SamHQPredictor,
    load_image,
)
from samhq_train.resizing import resize_longest_side_shape
from tests.reference import official_sam_decoder, official_twin, random_tiny_model

# float noise (~2e-6 in the logits) may flip a pixel whose logit is this close to the threshold
NEAR_THRESHOLD = 1e-4
IMAGES = {"downscaled": (300, 200), "upscaled": (90, 130)}
PROMPTS = {
    "box": dict(box=np.array([10.0, 20.0, 150.0, 250.0])),
    "points": dict(
        point_coords=np.array([[50.0, 60.0], [100.0, 120.5]]), point_labels=np.array([1, 0])
    ),
    "box+point": dict(
        box=np.array([30.0, 15.0, 80.0, 70.0]),
        point_coords=np.array([[40.0, 30.0]]),
        point_labels=np.array([1]),
    ),
}


@pytest.fixture(scope="module")
def models():
    ours = random_tiny_model(seed=3)
    return ours, official_twin(ours)


@pytest.fixture(scope="module")
def on_image(models):
    """(ours, official) predictors with an image set, each image embedded once per module."""
    from segment_anything_hq import SamPredictor

    cache = {}

    def get(shape, seed=0):
        if (shape, seed) not in cache:
            pair = SamHQPredictor(models[0]), SamPredictor(models[1])
            for predictor in pair:
                predictor.set_image(image_of(shape, seed))
            cache[shape, seed] = pair
        return cache[shape, seed]

    return get


def image_of(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def assert_same_prediction(ours, official_logits):
    masks, scores, low_res = ours
    ref_logits, ref_scores, ref_low_res = official_logits
    assert masks.dtype == bool and masks.shape == ref_logits.shape
    disagree = masks != (ref_logits > 0)
    assert not (disagree & (np.abs(ref_logits) > NEAR_THRESHOLD)).any()
    assert disagree.sum() <= 2
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5, rtol=0)
    np.testing.assert_allclose(low_res, ref_low_res, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", IMAGES)
def test_image_embedding_matches_official(on_image, size):
    ours, official = on_image(IMAGES[size])
    assert ours.input_size == official.input_size and ours.original_size == official.original_size
    torch.testing.assert_close(ours.features.embedding, official.features, atol=1e-5, rtol=0)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_predict_matches_official(on_image, prompt):
    ours, official = on_image(IMAGES["downscaled"])
    for multimask_output in (False, True):
        for hq_token_only in (False, True):
            kwargs = dict(
                PROMPTS[prompt], multimask_output=multimask_output, hq_token_only=hq_token_only
            )
            result = ours.predict(**kwargs)
            assert result[0].shape == (1, *IMAGES["downscaled"]) and result[2].shape == (1, 64, 64)
            assert_same_prediction(result, official.predict(**kwargs, return_logits=True))


def test_mask_input_from_a_previous_call_matches_official(on_image):
    ours, official = on_image(IMAGES["upscaled"])
    first = dict(point_coords=np.array([[60.0, 40.0]]), point_labels=np.array([1]))
    _, _, low_res = ours.predict(**first)
    _, _, ref_low_res = official.predict(**first)
    second = dict(
        point_coords=np.array([[60.0, 40.0], [10.0, 80.0]]), point_labels=np.array([1, 0])
    )
    result = ours.predict(**second, mask_input=low_res, multimask_output=False)
    assert_same_prediction(
        result,
        official.predict(
            **second, mask_input=ref_low_res, multimask_output=False, return_logits=True
        ),
    )


def test_batch_of_boxes_matches_official_predict_torch(on_image):
    ours, official = on_image(IMAGES["downscaled"])
    boxes = np.array(
        [[10.0, 20.0, 150.0, 250.0], [0.0, 0.0, 200.0, 300.0], [60.0, 5.0, 90.0, 40.0]]
    )
    masks, scores, low_res = ours.predict(box=boxes, hq_token_only=True)
    assert (
        masks.shape == (3, 1, 300, 200)
        and scores.shape == (3, 1)
        and low_res.shape == (3, 1, 64, 64)
    )
    transformed = official.transform.apply_boxes_torch(
        torch.as_tensor(boxes, dtype=torch.float), (300, 200)
    )
    ref = official.predict_torch(
        None, None, boxes=transformed, hq_token_only=True, return_logits=True
    )
    assert_same_prediction((masks, scores, low_res), [t.numpy() for t in ref])
    # one prediction per box equals the batched one
    single = ours.predict(box=boxes[1], hq_token_only=True)
    np.testing.assert_allclose(single[1], scores[1], atol=1e-6)


@pytest.mark.parametrize("multimask_output", [False, True])
def test_plain_sam_predict_matches_official_sam_decoder(models, multimask_output):
    """use_hq=False is plain SAM: the official predictor with the package's SAM MaskDecoder on the
    same weights, from the same embedding as the HQ masks."""
    from segment_anything_hq import SamPredictor

    ours = models[0]
    official_sam = official_twin(ours)  # its own copy: the module's fixture keeps the HQ decoder
    official_sam.mask_decoder = official_sam_decoder(official_sam)
    image = image_of(IMAGES["downscaled"])
    mine, reference = SamHQPredictor(ours), SamPredictor(official_sam)
    mine.set_image(image)
    reference.set_image(image)
    for prompt in PROMPTS.values():
        kwargs = dict(prompt, multimask_output=multimask_output)
        result = mine.predict(**kwargs, use_hq=False)
        assert result[0].shape[0] == (3 if multimask_output else 1)
        assert_same_prediction(result, reference.predict(**kwargs, return_logits=True))
        if not multimask_output:
            assert not np.allclose(mine.predict(**kwargs)[2], result[2], atol=1e-3)


def test_bgr_input_and_bf16_autocast(models):
    ours = SamHQPredictor(models[0])
    image = image_of((40, 64), seed=4)
    ours.set_image(image)
    expected = ours.predict(
        point_coords=np.array([[5.0, 6.0], [30.0, 20.0]]), point_labels=np.array([1, 0])
    )
    ours.set_image(np.ascontiguousarray(image[..., ::-1]), image_format="BGR")
    again = ours.predict(
        point_coords=np.array([[5.0, 6.0], [30.0, 20.0]]), point_labels=np.array([1, 0])
    )
    np.testing.assert_array_equal(again[2], expected[2])
    bf16 = SamHQPredictor(ours.model, amp_dtype=torch.bfloat16)
    bf16.set_image(image)
    masks, scores, low_res = bf16.predict(box=np.array([0, 0, 30, 30]))
    assert masks.shape == (1, 40, 64) and scores.dtype == np.float32 and low_res.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            dict(box=np.array([10, 10, 250, 50])),
            "box .* lies outside the image of width 200 and height 300",
        ),
        (dict(box=np.array([-5, 10, 50, 50])), "box .* lies outside the image"),
        (dict(box=np.array([50, 10, 20, 50])), "box .* must have x0 < x1 and y0 < y1"),
        (dict(box=np.array([50, 10, 50, 50])), "box .* must have x0 < x1 and y0 < y1"),
        (dict(box=np.array([10, 50, 20, 50])), "box .* must have x0 < x1 and y0 < y1"),
        (dict(box=np.array([np.nan, 10, 20, 50])), r"box \[nan, .* is not finite \(NaN or inf\)"),
        (
            dict(point_coords=np.array([[5, np.inf]]), point_labels=np.array([1])),
            r"point_coords .* are not finite \(NaN or inf\)",
        ),
        (dict(box=np.array([1, 2, 3])), "box must have shape 4 or B x 4"),
        (dict(point_coords=np.array([[5, 5]])), "point_coords was given without point_labels"),
        (dict(point_labels=np.array([1])), "point_labels was given without point_coords"),
        (
            dict(point_coords=np.array([[5, 5], [6, 6]]), point_labels=np.array([1])),
            "point_coords has shape \\(2, 2\\) but point_labels has shape \\(1,\\)",
        ),
        (
            dict(point_coords=np.array([[5, 5]]), point_labels=np.array([2])),
            "point_labels must be 1",
        ),
        (
            dict(point_coords=np.array([[5, 400]]), point_labels=np.array([1])),
            "point_coords .* lie outside",
        ),
        (
            dict(point_coords=np.array([[201.0, 10.0]]), point_labels=np.array([1])),
            r"point_coords \[\[201.0, 10.0\]\] lie outside the image of width 200 and height 300",
        ),
        (
            dict(point_coords=np.zeros((0, 2)), point_labels=np.zeros(0)),
            r"point_coords must have shape N x 2 \(x, y\) or B x N x 2, got \(0, 2\)",
        ),
        (dict(mask_input=np.zeros((1, 32, 32))), "mask_input must have shape 1 x 64 x 64"),
        (
            dict(box=np.array([[0, 0, 9, 9]] * 2), mask_input=np.zeros((3, 1, 64, 64))),
            "batched prompts must share their batch size",
        ),
    ],
)
def test_bad_prompts_raise_one_clear_error(on_image, kwargs, message):
    ours, _ = on_image(IMAGES["downscaled"])
    with pytest.raises(PromptError, match=message):
        ours.predict(**kwargs)


def test_points_and_boxes_up_to_the_far_edges_are_taken(on_image):
    ours, official = on_image(IMAGES["downscaled"])  # 300 high, 200 wide
    points = dict(point_coords=np.array([[200.0, 300.0], [10.0, 250.0]]), point_labels=[1, 1])
    expected = official.predict(**points, return_logits=True)
    assert_same_prediction(ours.predict(**points), expected)
    box = np.array([120.0, 210.0, 200.0, 300.0])
    assert_same_prediction(ours.predict(box=box), official.predict(box=box, return_logits=True))


def test_a_logit_at_the_threshold_is_background(models, monkeypatch):
    """Masks are logits > mask_threshold, as the official predictor cuts them."""
    predictor = SamHQPredictor(models[0])
    predictor.set_image(image_of((40, 64)))
    n = models[0].mask_input_size
    monkeypatch.setattr(
        predictor.model, "decode",
        lambda *args, **kwargs: (torch.zeros(1, 1, 1, n, n), torch.ones(1, 1, 1)),
    )
    masks, _, _ = predictor.predict(box=np.array([0, 0, 30, 30]), multimask_output=False)
    assert masks.shape == (1, 40, 64) and not masks.any()


def test_predict_before_set_image_and_bad_images(tmp_path, models):
    fresh = SamHQPredictor(models[0])
    with pytest.raises(RuntimeError, match="set an image"):
        fresh.predict(box=np.array([0, 0, 5, 5]))
    with pytest.raises(ValueError, match="image must be an H x W x 3 uint8 array"):
        fresh.set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageReadError, match="image file not found: .*missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="cannot read image file .*broken.jpg"):
        load_image(tmp_path / "broken.jpg")


def test_resize_rule_agrees_with_the_official():
    from segment_anything_hq.utils.transforms import ResizeLongestSide

    rng = np.random.default_rng(0)
    for h, w in [(300, 200), (90, 130), (1024, 1024), (1, 5000), *rng.integers(1, 4000, (200, 2))]:
        for long_side in (256, 1024):
            official = ResizeLongestSide.get_preprocess_shape(int(h), int(w), long_side)
            expected = tuple(max(1, side) for side in official)  # the official can give 0
            assert resize_longest_side_shape(int(h), int(w), long_side) == expected


def test_image_and_prompt_errors_are_user_errors():
    from samhq_train.errors import UserError
    from samhq_train.image_header import ImageFileError

    for error in (PromptError, ImageReadError, ImageFileError):
        assert issubclass(error, UserError) and issubclass(error, ValueError)
