"""Our HF export against transformers' SamHQModel on the same weights.

Image embeddings, early features and IoU predictions must agree. transformers' decoder has a known
defect (tests/reference.py TRANSFORMERS_DECODER_DEFECT): its masks agree once the defect is patched
inside the test, and the unpatched comparison is a strict xfail (from 4.54, where the defect came
in; 4.53's masks match) that tells us when it is fixed.
"""

import pytest
import torch

from samhq_train.compat import _release
from samhq_train.model import save_checkpoint
from tests.reference import (
    TRANSFORMERS_DECODER_DEFECT,
    load_transformers_model,
    official_twin,
    patch_transformers_decoder,
    random_tiny_model,
)

transformers = pytest.importorskip("transformers")

ATOL = 1e-4
PROMPT_KINDS = ["box", "points", "box+points"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    ours = random_tiny_model(seed=2)
    directory = tmp_path_factory.mktemp("transformers")
    save_checkpoint(ours, directory, "transformers")
    return ours, load_transformers_model(directory)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(3)) * 255


def prompts(kind: str) -> dict:
    gen = torch.Generator().manual_seed(11)
    out = {}
    if "box" in kind:
        xy0 = torch.rand(2, 2, 2, generator=gen) * 100
        out["boxes"] = torch.cat([xy0, xy0 + 20 + torch.rand(2, 2, 2, generator=gen) * 100], dim=-1)
    if "points" in kind:
        out["points"] = (torch.rand(2, 2, 3, 2, generator=gen) * 255, torch.randint(0, 2, (2, 2, 3), generator=gen))
    return out


def run_both(ours, hf, images, kind, hq_token_only):
    p = prompts(kind)
    with torch.no_grad():
        masks, iou = ours(images, hq_token_only=hq_token_only, **p)
        out = hf(
            pixel_values=ours.preprocess(images),
            input_points=p["points"][0] if "points" in p else None,
            input_labels=p["points"][1] if "points" in p else None,
            input_boxes=p.get("boxes"),
            multimask_output=False,
            hq_token_only=hq_token_only,
        )
    return masks, iou, out.pred_masks, out.iou_scores


def test_embeddings_and_early_features_match(models, images):
    ours, hf = models
    with torch.no_grad():
        features = ours.encode(images)
        emb, early = features.embedding, features.early
        vision = hf.vision_encoder(ours.preprocess(images))
    torch.testing.assert_close(vision.last_hidden_state, emb, atol=ATOL, rtol=0)
    torch.testing.assert_close(vision.intermediate_embeddings[0], early, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
@pytest.mark.parametrize("hq_token_only", [False, True])
def test_iou_predictions_match(models, images, kind, hq_token_only):
    _, iou, _, hf_iou = run_both(*models, images, kind, hq_token_only)
    torch.testing.assert_close(hf_iou, iou, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
@pytest.mark.parametrize("hq_token_only", [False, True])
def test_masks_match_with_decoder_defect_patched(models, images, kind, hq_token_only):
    ours, hf = models
    handles = patch_transformers_decoder(hf)
    try:
        masks, _, hf_masks, _ = run_both(ours, hf, images, kind, hq_token_only)
    finally:
        for handle in handles:
            handle.remove()
    assert hf_masks.shape == masks.shape
    torch.testing.assert_close(hf_masks, masks, atol=ATOL, rtol=0)


@pytest.mark.xfail(_release(transformers.__version__) >= (4, 54), strict=True,
                   reason=TRANSFORMERS_DECODER_DEFECT)
def test_masks_match_unpatched(models, images):
    masks, _, hf_masks, _ = run_both(*models, images, "box", hq_token_only=True)
    torch.testing.assert_close(hf_masks, masks, atol=ATOL, rtol=0)


def test_every_norm_has_the_official_eps(models):
    """Each LayerNorm of the loaded transformers model has the eps of the official module whose
    weight it holds. (On random weights a norm's eps moves the outputs less than the tolerance:
    the encoder's 1e-6 read as 1e-5 passes the comparisons above.)"""
    from samhq_train.model.sam1.transformers_format import transformers_key_map

    ours, hf = models
    official = official_twin(ours)
    hf_modules = dict(hf.named_modules())
    key_map = transformers_key_map(list(official.state_dict()))
    compared = set()
    for name, module in official.named_modules():
        if hasattr(module, "eps") and hasattr(module, "weight"):  # LayerNorm, LayerNorm2d
            hf_name = key_map[f"{name}.weight"].removesuffix(".weight")
            assert hf_modules[hf_name].eps == module.eps, (name, hf_name)
            compared.add(name.split(".")[0])
    assert compared == {"image_encoder", "prompt_encoder", "mask_decoder"}


def test_a_directory_saved_by_transformers_imports_bit_exactly(models, tmp_path):
    """transformers' own save_pretrained (the tied positional matrix stored once) reads back into
    the weights we exported: the import is checked against transformers' writer, not ours."""
    from samhq_train.model import load_checkpoint

    ours, hf = models
    hf.save_pretrained(tmp_path / "saved")
    again = load_checkpoint(tmp_path / "saved")
    mine = ours.state_dict()
    assert again.state_dict().keys() == mine.keys()
    assert all(torch.equal(v, mine[k]) for k, v in again.state_dict().items())
