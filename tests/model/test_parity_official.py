"""Same weights, same inputs: our SamHQ against the official segment_anything_hq model (fp32)."""

import pytest
import torch

from tests.reference import official_sam_decoder, official_twin

ATOL = 1e-5
IMAGE_HW = (256, 192)  # not square: exercises the padding in preprocess
PROMPT_KINDS = ["box", "points", "box+points", "mask", "mask+box"]


def make_prompts(kind: str, n_images: int = 2, per_image: int = 2, n_points: int = 3) -> dict:
    gen = torch.Generator().manual_seed(len(kind))
    h, w = IMAGE_HW
    prompts = {}
    if "box" in kind:
        xy0 = torch.rand(n_images, per_image, 2, generator=gen) * torch.tensor([w / 2, h / 2])
        xy1 = xy0 + 10 + torch.rand(n_images, per_image, 2, generator=gen) * torch.tensor([w / 2 - 10, h / 2 - 10])
        prompts["boxes"] = torch.cat([xy0, xy1], dim=-1)
    if "points" in kind:
        coords = torch.rand(n_images, per_image, n_points, 2, generator=gen) * torch.tensor([w, h])
        labels = torch.randint(0, 2, (n_images, per_image, n_points), generator=gen).float()
        prompts["points"] = (coords, labels)
    if "mask" in kind:
        prompts["mask_inputs"] = torch.randn(n_images, per_image, 1, 64, 64, generator=gen) * 3
    return prompts


def run_official(official, images, prompts, multimask_output, hq_token_only):
    batched = []
    for i, image in enumerate(images):
        record = {"image": image, "original_size": IMAGE_HW}
        if "points" in prompts:
            record["point_coords"], record["point_labels"] = prompts["points"][0][i], prompts["points"][1][i]
        if "boxes" in prompts:
            record["boxes"] = prompts["boxes"][i]
        if "mask_inputs" in prompts:
            record["mask_inputs"] = prompts["mask_inputs"][i]
        batched.append(record)
    outputs = official(batched, multimask_output=multimask_output, hq_token_only=hq_token_only)
    return (
        torch.stack([o["low_res_logits"] for o in outputs]),
        torch.stack([o["iou_predictions"] for o in outputs]),
    )


@pytest.fixture(scope="module")
def models():
    from tests.reference import random_tiny_model

    ours = random_tiny_model(seed=1)
    return ours, official_twin(ours)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, *IMAGE_HW, generator=torch.Generator().manual_seed(7)) * 255


def test_image_embedding_and_early_feature_match(models, images):
    ours, official = models
    with torch.no_grad():
        features = ours.encode(images)
        emb, early = features.embedding, features.early
        ref_emb, ref_interm = official.image_encoder(official.preprocess(images))
    assert emb.shape == ref_emb.shape and early.shape == ref_interm[0].shape
    torch.testing.assert_close(emb, ref_emb, atol=ATOL, rtol=0)
    torch.testing.assert_close(early, ref_interm[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("chunk_bytes", [1, 100_000])  # 1 or 3 query rows (of 16) per SDPA call
def test_encoder_with_the_bias_built_in_chunks_matches(models, images, monkeypatch, chunk_bytes):
    from samhq_train.model.sam1 import image_encoder

    monkeypatch.setattr(image_encoder, "CPU_BIAS_CHUNK_BYTES", chunk_bytes)
    ours, official = models
    with torch.no_grad():
        features = ours.encode(images)
        ref_emb, ref_interm = official.image_encoder(official.preprocess(images))
    torch.testing.assert_close(features.embedding, ref_emb, atol=ATOL, rtol=0)
    torch.testing.assert_close(features.early, ref_interm[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
@pytest.mark.parametrize("multimask_output", [False, True])
@pytest.mark.parametrize("hq_token_only", [False, True])
def test_masks_and_iou_match(models, images, kind, multimask_output, hq_token_only):
    ours, official = models
    prompts = make_prompts(kind)
    with torch.no_grad():
        masks, iou = ours(images, multimask_output=multimask_output, hq_token_only=hq_token_only, **prompts)
        ref_masks, ref_iou = run_official(official, images, prompts, multimask_output, hq_token_only)
    assert masks.shape == ref_masks.shape == (2, 2, 1, 64, 64)
    assert ref_masks.abs().max() > 1.0  # the comparison is not between near-zero tensors
    torch.testing.assert_close(masks, ref_masks, atol=ATOL, rtol=0)
    torch.testing.assert_close(iou, ref_iou, atol=ATOL, rtol=0)


# the padding is on the right of a portrait input and at the bottom of a landscape one
@pytest.mark.parametrize("input_size,original_size", [(IMAGE_HW, (300, 250)), ((192, 256), (250, 300))])
def test_original_size_masks_match(models, images, input_size, original_size):
    ours, official = models
    prompts = make_prompts("box")
    with torch.no_grad():
        low_res, _ = ours(images, boxes=prompts["boxes"])
        ours_up = ours.postprocess_masks(low_res, input_size, original_size)
        ref_up = official.postprocess_masks(low_res.flatten(0, 1), input_size, original_size)
    torch.testing.assert_close(ours_up.flatten(0, 1), ref_up, atol=ATOL, rtol=0)


@pytest.mark.parametrize("multimask_output", [False, True])
def test_sam_baseline_matches_official_sam_decoder(models, images, multimask_output):
    """use_hq=False is plain SAM: the official package's MaskDecoder on the same weights."""
    ours, official = models
    sam_decoder = official_sam_decoder(official)
    prompts = make_prompts("box+points")
    with torch.no_grad():
        features = ours.encode(images)
        emb = features.embedding
        masks, iou = ours.decode(features, multimask_output=multimask_output, use_hq=False, **prompts)
        for i in range(images.shape[0]):
            sparse, dense = official.prompt_encoder(
                points=(prompts["points"][0][i], prompts["points"][1][i]), boxes=prompts["boxes"][i], masks=None
            )
            ref_masks, ref_iou = sam_decoder(
                image_embeddings=emb[i : i + 1],
                image_pe=official.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
                hq_token_only=False,  # unused by the plain SAM decoder
                interm_embeddings=None,
            )
            torch.testing.assert_close(masks[i], ref_masks, atol=ATOL, rtol=0)
            torch.testing.assert_close(iou[i], ref_iou, atol=ATOL, rtol=0)
    assert masks.shape[2] == (3 if multimask_output else 1)


def assert_norms_have_the_official_eps(ours, official) -> None:
    """Every norm of `ours` has the eps of the official module of the same name. (On random
    weights an eps of 1e-5 for 1e-6 moves the outputs less than the parity tolerance.)"""
    mine = dict(ours.named_modules())
    compared = 0
    for name, module in official.named_modules():
        if hasattr(module, "eps") and hasattr(module, "weight"):  # LayerNorm, LayerNorm2d
            assert mine[name].eps == module.eps, name
            compared += 1
    assert compared == sum(hasattr(m, "eps") for m in mine.values())


def test_every_norm_has_the_official_eps(models):
    assert_norms_have_the_official_eps(*models)
