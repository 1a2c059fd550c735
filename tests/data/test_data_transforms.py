import numpy as np
import pytest

from samhq_train.data import PIXEL_MEAN, resize_longest_side_shape, tight_box
from samhq_train.data.transform_builders import build_eval_transform, build_train_transform


def rect_mask(h=60, w=90, box=(20, 10, 70, 40)):
    mask = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return mask


def test_resize_rule_keeps_aspect_and_rounds_like_sam():
    assert resize_longest_side_shape(480, 640, 1024) == (768, 1024)
    assert resize_longest_side_shape(640, 480, 1024) == (1024, 768)
    assert resize_longest_side_shape(335, 500, 256) == (172, 256)  # 171.52 rounds up
    assert resize_longest_side_shape(1, 1000, 64) == (1, 64)
    sam = pytest.importorskip("segment_anything_hq.utils.transforms").ResizeLongestSide
    for h, w in [(333, 500), (1080, 1920), (427, 640), (4000, 3000)]:
        assert resize_longest_side_shape(h, w, 1024) == sam.get_preprocess_shape(h, w, 1024)


def test_train_transform_box_follows_mask():
    """The box transformed by albumentations equals the tight box of the transformed mask."""
    s = 64
    transform = build_train_transform(s)
    transform.set_random_state(np.random.default_rng(0))
    box = (20, 10, 70, 40)
    mask = rect_mask(box=box)
    image = np.full((*mask.shape, 3), 200, np.uint8)
    checked = 0
    for _ in range(40):
        out = transform(image, mask, boxes=[box])
        assert out.image.shape == (s, s, 3) and out.mask.shape == (s, s)
        if len(out.boxes) == 0 or out.mask.max() <= 128:
            continue
        x0, y0, x1, y1 = tight_box(out.mask)
        np.testing.assert_allclose([x0, y0, x1 + 1, y1 + 1], out.boxes[0], atol=1.01)
        checked += 1
    assert checked > 20


def test_train_transform_pads_bottom_right_with_official_values():
    s = 64
    transform = build_train_transform(s, scale_range=(0.5, 0.5), hflip_p=0.0)
    transform.set_random_state(np.random.default_rng(0))
    mask = rect_mask()
    image = np.full((*mask.shape, 3), 10, np.uint8)
    out = transform(image, mask)
    h, w = out.input_size
    assert (h, w) == resize_longest_side_shape(60, 90, 32)
    assert (out.image[:h, :w] == 10).all()
    assert (out.image[h:] == 128).all() and (out.image[:, w:] == 128).all()
    assert (out.mask[h:] == 0).all() and (out.mask[:, w:] == 0).all()


def test_mask_stays_soft_after_resizing():
    transform = build_eval_transform(37)
    out = transform(np.zeros((60, 90, 3), np.uint8), rect_mask())
    assert out.mask.dtype == np.float32
    soft = (out.mask > 0) & (out.mask < 255)
    assert soft.any(), "bilinear resizing must leave soft 0-255 values on the edges"


def test_train_transform_is_seeded():
    mask = rect_mask()
    image = np.random.default_rng(1).integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    outs = []
    for _ in range(2):
        t = build_train_transform(48)
        t.set_random_state(np.random.default_rng(7))
        outs.append([t(image, mask) for _ in range(3)])
    for a, b in zip(*outs):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not all(np.array_equal(outs[0][0].mask, o.mask) for o in outs[0][1:])


def test_eval_official_resize_ignores_aspect():
    out = build_eval_transform(64)(
        np.zeros((60, 90, 3), np.uint8), rect_mask(), boxes=[(20, 10, 70, 40)]
    )
    assert out.input_size == (64, 64) and out.image.shape == (64, 64, 3)
    np.testing.assert_allclose(
        out.boxes[0], [20 * 64 / 90, 10 * 64 / 60, 70 * 64 / 90, 40 * 64 / 60], atol=1e-3
    )


def test_eval_longest_side_pads_with_pixel_mean():
    out = build_eval_transform(64, mode="longest_side")(
        np.zeros((60, 90, 3), np.uint8), rect_mask()
    )
    assert out.input_size == (43, 64)
    assert (out.image[:43] == 0).all()
    np.testing.assert_allclose(out.image[43:].reshape(-1, 3).mean(0), PIXEL_MEAN, atol=0.5)
    assert (out.mask[43:] == 0).all()


def test_eval_mode_is_checked():
    with pytest.raises(ValueError, match="eval_transform.mode"):
        build_eval_transform(64, mode="stretch")


def test_only_the_predictor_resize_has_its_padding_zeroed():
    """content_size says where the model zeroes the normalised image: the longest-side eval
    transform's padding (the official predictor pads with zeros after normalising); training's
    128 padding and the square resize are image, kept as they are ((S, S): nothing zeroed)."""
    image, mask = np.zeros((60, 90, 3), np.uint8), rect_mask()
    train = build_train_transform(64, scale_range=(0.5, 0.5), hflip_p=0.0)
    train.set_random_state(np.random.default_rng(0))
    out = train(image, mask)
    assert out.input_size == (21, 32) and out.content_size == (64, 64)
    assert build_eval_transform(64)(image, mask).content_size == (64, 64)
    longest = build_eval_transform(64, mode="longest_side")(image, mask)
    assert longest.content_size == longest.input_size == (43, 64)
