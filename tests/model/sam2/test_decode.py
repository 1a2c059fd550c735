"""Sam2HQ's batched interface beyond the fixtures: B images x P prompts in one call, padding,
mask prompts, dynamic multimask, features record, errors, and training through decode."""

import pytest
import torch

from samhq_train.model.features import ImageFeatures
from samhq_train.model.sam2 import Sam2Features

from .conftest import predictor_image


@pytest.fixture(scope="module")
def two_images(hq_fixture, hq_model):
    image = predictor_image(hq_fixture, hq_model.image_size)
    return torch.cat([image, image.flip(-1)])


@pytest.fixture(scope="module")
def two_features(hq_model, two_images):
    with torch.no_grad():
        return hq_model.encode(two_images)


def _prompts(b: int = 2, p: int = 3, n: int = 2, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    xy0 = torch.rand(b, p, 2, generator=gen) * 120
    boxes = torch.cat([xy0, xy0 + 20 + torch.rand(b, p, 2, generator=gen) * 100], dim=-1)
    coords = torch.rand(b, p, n, 2, generator=gen) * 256
    labels = torch.randint(0, 2, (b, p, n), generator=gen)
    labels[0, 1, -1] = -1  # a padded point
    masks = torch.randn(b, p, 1, 64, 64, generator=gen) * 4
    return {"boxes": boxes, "points": (coords, labels), "mask_inputs": masks}


def test_features_record(two_features):
    assert isinstance(two_features, ImageFeatures)
    assert Sam2Features.field_names() == ("embedding", "high_res_0", "high_res_1")
    assert [tuple(t.shape) for t in two_features.tensors().values()] == [
        (2, 64, 16, 16), (2, 8, 64, 64), (2, 16, 32, 32)
    ]
    again = Sam2Features.cat([two_features.select(0), two_features.select(1)])
    assert all(torch.equal(a, b) for a, b in zip(again.tensors().values(), two_features.tensors().values()))


@pytest.mark.parametrize(("kinds", "multimask", "hq_token_only", "use_hq"), [
    (("points",), False, False, True),
    (("boxes",), True, False, True),
    (("boxes", "points"), True, True, True),
    (("mask_inputs", "boxes"), False, False, False),
    (("points",), True, False, False),
])
def test_batched_decode_equals_one_prompt_at_a_time(hq_model, two_features, kinds, multimask, hq_token_only, use_hq):
    prompts = {k: v for k, v in _prompts().items() if k in kinds}
    flags = dict(multimask_output=multimask, hq_token_only=hq_token_only, use_hq=use_hq)
    with torch.no_grad():
        masks, iou = hq_model.decode(two_features, **prompts, **flags)
        m = 1 if hq_token_only or not multimask else 3
        assert masks.shape == (2, 3, m, 64, 64)
        assert iou.shape == (2, 3, 3 if multimask else 1)
        for i in range(2):
            for j in range(3):
                one = {
                    k: (v[0][i : i + 1, j : j + 1], v[1][i : i + 1, j : j + 1]) if k == "points" else v[i : i + 1, j : j + 1]
                    for k, v in prompts.items()
                }
                m1, iou1 = hq_model.decode(two_features.select(i), **one, **flags)
                torch.testing.assert_close(m1[0, 0], masks[i, j], atol=1e-4, rtol=0)
                torch.testing.assert_close(iou1[0, 0], iou[i, j], atol=1e-5, rtol=0)


def test_padding_point_is_a_not_a_point_token(hq_model):
    """SAM 2 appends one padding point; a -1 label anywhere gives the same not-a-point token."""
    encoder = hq_model.sam_prompt_encoder
    coords = torch.tensor([[[10.0, 20.0], [99.0, 7.0]]])
    emb = encoder.embed_points(coords, torch.tensor([[1, -1]]), pad=True)
    assert emb.shape == (1, 3, 64)
    torch.testing.assert_close(emb[0, 1], encoder.not_a_point_embed.weight[0])
    torch.testing.assert_close(emb[0, 2], encoder.not_a_point_embed.weight[0])
    assert not torch.allclose(emb[0, 0], encoder.not_a_point_embed.weight[0])


def test_mask_prompt_changes_the_masks(hq_model, two_features):
    prompts = _prompts()
    with torch.no_grad():
        with_mask, _ = hq_model.decode(two_features, boxes=prompts["boxes"], mask_inputs=prompts["mask_inputs"])
        without, _ = hq_model.decode(two_features, boxes=prompts["boxes"])
        _, dense = hq_model.sam_prompt_encoder(points=None, masks=prompts["mask_inputs"][0], batch_size=3)
    assert dense.shape == (3, 64, 16, 16)
    torch.testing.assert_close(dense, hq_model.sam_prompt_encoder.mask_downscaling(prompts["mask_inputs"][0]))
    assert (with_mask - without).abs().max() > 1e-2


def test_no_prompt_decodes_one_mask_per_image(hq_model, two_features):
    with torch.no_grad():
        masks, iou = hq_model.decode(two_features)
    assert masks.shape == (2, 1, 1, 64, 64) and iou.shape == (2, 1, 1)


def test_dynamic_multimask_picks_the_best_multimask_when_unstable(meta_model, meta_fixture):
    """Switched on, an unstable single mask is replaced by the multimask output of highest IoU
    (eval mode only). The fixture's points prompt has an unstable single mask."""
    from .conftest import predictor_prompts

    decoder = meta_model.sam_mask_decoder
    with torch.no_grad():
        features = meta_model.encode(predictor_image(meta_fixture, 256))
        prompt = predictor_prompts(meta_fixture["prompts"]["points"], (192, 256), 256)
        single, single_iou = meta_model.decode(features, use_hq=False, **prompt)
        multi, multi_iou = meta_model.decode(features, use_hq=False, multimask_output=True, **prompt)
        flat = single[0, 0, 0].flatten()
        stability = (flat > 0.05).sum() / (flat > -0.05).sum()
        assert stability < 0.98  # the case the fallback is for
        decoder.dynamic_multimask_via_stability = True
        try:
            dyn, dyn_iou = meta_model.decode(features, use_hq=False, **prompt)
            decoder.train()
            trained, _ = meta_model.decode(features, use_hq=False, **prompt)
        finally:
            decoder.dynamic_multimask_via_stability = False
            decoder.eval()
    best = multi_iou[0, 0].argmax()
    torch.testing.assert_close(dyn[0, 0, 0], multi[0, 0, best])
    torch.testing.assert_close(dyn_iou[0, 0, 0], multi_iou[0, 0, best])
    torch.testing.assert_close(trained, single)  # training mode keeps token 0


def test_dynamic_multimask_rule_equals_metas_on_stable_and_unstable_masks(meta_model):
    """The fallback rule itself against Meta's MaskDecoder methods (sam2 1.1.0), on single-mask
    logits whose stability spans the 0.98 threshold: a share of near-zero pixels (within the
    +-delta band, or just above it) makes a mask less stable."""
    from types import SimpleNamespace

    meta = pytest.importorskip("sam2.modeling.sam.mask_decoder").MaskDecoder
    ours = meta_model.sam_mask_decoder
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 4, 32, 32, generator=gen).sign() * 5
    near_zero = torch.rand(8, 32, 32, generator=gen) * 0.1 - 0.04  # in (-0.04, 0.06)
    for row, share in enumerate([0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.1, 1.0]):
        replace = torch.rand(32, 32, generator=gen) < share
        logits[row, 0][replace] = near_zero[row][replace]
    tie = torch.full((1, 4, 32, 32), -5.0)  # stability exactly 49 / 50 = the threshold: stable
    tie.view(1, 4, -1)[0, 0, :49] = 5.0
    tie.view(1, 4, -1)[0, 0, 49] = 0.0
    logits = torch.cat([logits, tie])
    iou = torch.rand(9, 4, generator=gen)
    reference = SimpleNamespace(
        dynamic_multimask_stability_delta=ours.dynamic_multimask_stability_delta,
        dynamic_multimask_stability_thresh=ours.dynamic_multimask_stability_thresh,
    )
    reference._get_stability_scores = lambda x: meta._get_stability_scores(reference, x)
    stability = meta._get_stability_scores(reference, logits[:, :1])
    assert (stability > 0.98).any() and (stability < 0.98).any()  # both branches are taken
    assert stability[-1] == ours.dynamic_multimask_stability_thresh
    torch.testing.assert_close(ours._stability(logits[:, :1]), stability, atol=0, rtol=0)
    expected = meta._dynamic_multimask_via_stability(reference, logits, iou)
    for got, want in zip(ours._dynamic_single_mask(logits, iou), expected):
        torch.testing.assert_close(got, want, atol=0, rtol=0)

def test_postprocess_masks_resizes_to_the_original_size(hq_model):
    low = torch.randn(2, 3, 1, 64, 64)
    out = hq_model.postprocess_masks(low, (256, 256), (120, 300))
    assert out.shape == (2, 3, 1, 120, 300)
    flat = torch.full((1, 64, 64), 2.5)
    torch.testing.assert_close(hq_model.postprocess_masks(flat, (256, 256), (10, 10)), torch.full((1, 10, 10), 2.5))


def test_bad_inputs_are_refused(hq_model, two_features):
    with pytest.raises(ValueError, match="not the model input 256x256"):
        hq_model.encode(torch.zeros(1, 3, 192, 256))
    prompts = _prompts()
    with pytest.raises(ValueError, match="point labels of shape"):
        hq_model.decode(two_features, points=(prompts["points"][0], prompts["points"][1][..., :1]))
    with pytest.raises(ValueError, match="B = 2 images"):
        hq_model.decode(two_features, boxes=prompts["boxes"][:, :2], points=prompts["points"])
    with pytest.raises(ValueError, match="B = 2 images"):
        hq_model.decode(two_features, boxes=prompts["boxes"][:1])
    with pytest.raises(ValueError, match="expected B x P x 4"):
        hq_model.decode(two_features, boxes=prompts["boxes"][..., :2])


def test_training_reaches_the_hq_parts_and_the_trunk(hq_fixture, two_images):
    from .conftest import mini_model

    model = mini_model(hq_fixture).train()
    prompts = _prompts()
    masks, iou = model(two_images, boxes=prompts["boxes"], points=prompts["points"], hq_token_only=True)
    (masks.square().mean() + iou.mean()).backward()
    decoder = model.sam_mask_decoder
    for module in (decoder.hf_token, decoder.hf_mlp, decoder.embedding_maskfeature, model.image_encoder.trunk):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert model.memory_attention.norm.weight.grad is None  # parameters only, never used
