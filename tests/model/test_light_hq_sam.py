"""Light HQ-SAM (vit_tiny, TinyViT encoder): parity with the official segment_anything_hq model at
full size, its trainable count, checkpoint round trips, and the refused transformers export."""

import pytest
import torch

from samhq_train.model import (
    CheckpointError,
    build_sam_hq,
    detect_format,
    detect_variant,
    hq_state_dict,
    load_checkpoint,
    save_checkpoint,
    trained_parameter_names,
)
from tests.reference import randomize_

ATOL = 1e-4
HQ_COUNT = 448_512  # the README's Light HQ-SAM learnable parameters
IMAGE_HW = (1024, 1024)
PROMPTS = {
    "box": {"boxes": torch.tensor([[[180.0, 240.0, 760.0, 820.0]]])},
    "points": {
        "points": (torch.tensor([[[[400.0, 500.0], [620.0, 380.0], [150.0, 900.0]]]]), torch.tensor([[[1.0, 1.0, 0.0]]]))
    },
}


def official_vit_tiny():
    from segment_anything_hq import sam_model_registry

    return sam_model_registry["vit_tiny"]()  # random init, eval mode, only the HQ parts trainable


@pytest.fixture(scope="module")
def light_model():
    # scale 0.07 keeps the mask logits near 20: at randomize_'s default 0.1 they reach ~75 and
    # float32 rounding alone (seen in the decoder given identical inputs) exceeds 1e-4 there
    return randomize_(build_sam_hq("vit_tiny"), seed=3, scale=0.07)


@pytest.fixture(scope="module")
def outputs(light_model):
    """Our outputs and the official model's on the same weights, one image, every case."""
    official = official_vit_tiny()
    official.load_state_dict(light_model.state_dict(), strict=True)
    official.eval()  # TinyViT caches its attention biases when put in eval mode: refresh after loading
    image = torch.rand(1, 3, *IMAGE_HW, generator=torch.Generator().manual_seed(11)) * 255
    ours, ref = {}, {}
    with torch.no_grad():
        features = light_model.encode(image)
        emb, early = features.embedding, features.early
        ref_emb, ref_interm = official.image_encoder(official.preprocess(image))
        ours["embedding"], ref["embedding"] = emb, ref_emb
        ours["early"], ref["early"] = early, ref_interm[0]
        for kind, prompt in PROMPTS.items():
            sparse, dense = official.prompt_encoder(
                points=None if "points" not in prompt else (prompt["points"][0][0], prompt["points"][1][0]),
                boxes=prompt.get("boxes", [None])[0],
                masks=None,
            )
            for hq_token_only in (False, True):
                masks, iou = light_model.decode(features, hq_token_only=hq_token_only, **prompt)
                ref_masks, ref_iou = official.mask_decoder(
                    image_embeddings=ref_emb,
                    image_pe=official.prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=False,
                    hq_token_only=hq_token_only,
                    interm_embeddings=ref_interm,
                )
                ours[kind, hq_token_only] = (masks[0], iou[0])
                ref[kind, hq_token_only] = (ref_masks, ref_iou)
    return ours, ref


def test_image_embedding_and_early_feature_match_official(outputs):
    ours, ref = outputs
    assert ours["embedding"].shape == (1, 256, 64, 64) and ours["early"].shape == (1, 64, 64, 160)
    torch.testing.assert_close(ours["embedding"], ref["embedding"], atol=ATOL, rtol=0)
    torch.testing.assert_close(ours["early"], ref["early"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", sorted(PROMPTS))
@pytest.mark.parametrize("hq_token_only", [False, True])
def test_masks_and_iou_match_official(outputs, kind, hq_token_only):
    ours, ref = outputs
    (masks, iou), (ref_masks, ref_iou) = ours[kind, hq_token_only], ref[kind, hq_token_only]
    assert masks.shape == ref_masks.shape == (1, 1, 256, 256)
    assert ref_masks.abs().max() > 1.0  # the comparison is not between near-zero tensors
    torch.testing.assert_close(masks, ref_masks, atol=ATOL, rtol=0)
    torch.testing.assert_close(iou, ref_iou, atol=ATOL, rtol=0)


def test_hq_trainable_count_equals_the_official_package():
    official = official_vit_tiny()
    with torch.device("meta"):
        ours = build_sam_hq("vit_tiny")
    count = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    assert count == sum(p.numel() for p in official.parameters() if p.requires_grad) == HQ_COUNT
    assert set(trained_parameter_names(ours)) == {n for n, p in official.named_parameters() if p.requires_grad}


def test_state_dict_keys_equal_the_official_model():
    official = official_vit_tiny()
    with torch.device("meta"):
        ours = build_sam_hq("vit_tiny")
    assert set(ours.state_dict()) == set(official.state_dict())
    assert all(ours.state_dict()[k].shape == v.shape for k, v in official.state_dict().items())


@pytest.mark.parametrize(("format", "name"), [("sam_hq", "sam_hq_vit_tiny.pth"), ("safetensors", "full.safetensors")])
def test_round_trip_is_bit_exact(tmp_path, light_model, format, name):
    path = save_checkpoint(light_model, tmp_path / name, format)
    assert detect_format(path) == format
    loaded = load_checkpoint(path)
    assert set(loaded.state_dict()) == set(light_model.state_dict())
    for key, value in light_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_variant_is_detected_from_full_and_hq_only_state(light_model):
    state = light_model.state_dict()
    assert detect_variant(state) == "vit_tiny"
    assert detect_variant(hq_state_dict(state)) == "vit_tiny"  # vit_dim 160 is unique
    assert detect_variant({k: v for k, v in state.items() if k not in hq_state_dict(state)}) == "vit_tiny"


def test_transformers_export_is_refused(tmp_path, light_model):
    with pytest.raises(CheckpointError, match="SamHQModel has no TinyViT encoder"):
        save_checkpoint(light_model, tmp_path / "transformers_dir", "transformers")
    assert not (tmp_path / "transformers_dir").exists()


def test_every_norm_has_the_official_eps(light_model):
    from tests.model.test_parity_official import assert_norms_have_the_official_eps

    assert_norms_have_the_official_eps(light_model, official_vit_tiny())
