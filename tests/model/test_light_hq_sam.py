"""Light HQ-SAM (vit_tiny, TinyViT encoder): parity with the official segment_anything_hq model at
full size, its trainable count, checkpoint round trips, and the refused transformers export."""

import pytest
import torch
from torch import nn

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
from samhq_train.model.sam1 import tiny_vit
from tests.reference import randomize_

ATOL = 1e-4
HQ_COUNT = 448_512  # docs/training.md's Light HQ-SAM learnable parameters
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



def _stage_pair():
    """A conv stage (2 MBConv, merge by 2) then an attention stage (2 blocks, windows padded,
    merge at stride 1 into 320 channels: the official merge keeps the resolution for 320, 448
    and 576), ours and the official package's, on the same random weights."""
    from segment_anything_hq.modeling import tiny_vit_sam as official

    ours = nn.Sequential(
        tiny_vit.ConvLayer(16, 2, 4.0, tiny_vit.PatchMerging(16, 32, stride=2)),
        tiny_vit.BasicLayer(
            32, 2, num_heads=2, window_size=7, mlp_ratio=4.0, local_conv_size=3,
            downsample=tiny_vit.PatchMerging(32, 320, stride=1),
        ),
    )
    theirs = nn.Sequential(
        official.ConvLayer(
            16, (20, 20), 2, nn.GELU, downsample=official.PatchMerging, out_dim=32,
            conv_expand_ratio=4.0,
        ),
        official.BasicLayer(
            32, (10, 10), 2, 2, 7, mlp_ratio=4.0, downsample=official.PatchMerging,
            local_conv_size=3, activation=nn.GELU, out_dim=320,
        ),
    )
    randomize_(ours, seed=4)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs


def test_a_training_step_of_the_stages_matches_official():
    """In train mode (BatchNorm on batch statistics, attention biases not cached) the stages'
    outputs, the gradients of their input and of every parameter, and the updated BatchNorm
    statistics equal the official TinyViT's: a wiring that leaves the forward pass alone but not
    the backward pass shows here."""
    ours, theirs = _stage_pair()
    gen = torch.Generator().manual_seed(5)
    image = torch.randn(2, 16, 20, 20, generator=gen)
    weight = torch.randn(2, 100, 320, generator=gen)
    found = {}
    for name, stages in (("ours", ours), ("official", theirs)):
        x = image.clone().requires_grad_(True)
        out = stages.train()(x)
        out = out.flatten(2).transpose(1, 2) if name == "ours" else out  # B x HW x C
        (out * weight).sum().backward()
        grads = {n: p.grad for n, p in stages.named_parameters()}
        stats = {n: b for n, b in stages.named_buffers() if "running" in n}
        found[name] = out.detach(), x.grad, grads, stats
    (out, x_grad, grads, stats), (ref, ref_x_grad, ref_grads, ref_stats) = found.values()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # 1.5e-5 at 2 of 12,800 values on an AVX2-only CPU (under 1e-5 on AVX-512 ones)
    torch.testing.assert_close(x_grad, ref_x_grad, atol=5e-5, rtol=1e-4)
    assert set(grads) == set(ref_grads) and len(stats) == len(ref_stats) > 0
    for name, grad in grads.items():
        # relative to the tensor's largest gradient (they reach ~1e3; a bias feeding a
        # BatchNorm has a gradient near 0, which float rounding alone decides)
        scale = ref_grads[name].abs().max().item()
        assert (grad - ref_grads[name]).abs().max().item() <= 1e-5 * scale + 1e-3, name
    for name, stat in stats.items():
        torch.testing.assert_close(stat, ref_stats[name], atol=1e-6, rtol=1e-5, msg=name)
