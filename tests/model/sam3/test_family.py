"""The SAM 3 family in the project: registry entry and names, full-size shapes and parameter
counts (on the meta device), the trainable policies, LoRA presets, gradient checkpointing, the
predictor with SAM 3's input rule, the ONNX prompt decoder and the cache size per image."""

import importlib.util

import numpy as np
import pytest
import torch

from samhq_train.model import build_sam_hq
from samhq_train.model.lora import add_lora
from samhq_train.model.policy import trained_parameter_names
from samhq_train.model.registry import FAMILIES, canonical_variant, family_of_variant
from samhq_train.model.sam3 import FAMILY, VARIANTS, build
from samhq_train.model.sam3.family import HQ_MODULES, detect_variant

is_hq_key = FAMILY.is_hq_key

HQ_PARAMS = 177_152  # HQ-SAM 2's HQ parts at width 256 (hf_token, hf_mlp, embedding_maskfeature)
# trunk 446.2 M + sam2 neck + prompt encoder + decoder (with HQ parts) + the tracker's video parts
# (7,521,777 parameters: model_builder's _create_tracker_transformer and
# _create_tracker_maskmem_backbone plus Sam3TrackerBase's own, counted from Meta's classes)
FULL_PARAMS = 465_960_322
FULL_KEYS = 732  # Meta's 719 computed keys (559 + 160 video; of sam3.pt's 1465) + 13 HQ keys


@pytest.fixture(scope="module")
def full_on_meta():
    with torch.device("meta"):
        return build(VARIANTS["sam3_hq"]).eval()


def test_registry_entry():
    assert canonical_variant("sam3") == "sam3_hq"
    family = family_of_variant("sam3_hq_demo")
    assert family is FAMILIES["sam3"] and family.decoder_prefix == "tracker.sam_mask_decoder."
    assert family.is_hq_key("tracker.sam_mask_decoder.hf_mlp.layers.0.weight")
    assert not family.is_hq_key("tracker.sam_mask_decoder.mask_tokens.weight")


def test_full_size_shapes_and_counts(full_on_meta):
    model = full_on_meta
    with torch.device("meta"):
        features = model.encode(torch.zeros(1, 3, 1008, 1008))
        masks, iou = model.decode(features, boxes=torch.zeros(1, 2, 4), multimask_output=True)
    assert [tuple(t.shape) for t in features.tensors().values()] == [
        (1, 256, 72, 72),
        (1, 32, 288, 288),
        (1, 64, 144, 144),
    ]
    assert masks.shape == (1, 2, 3, 288, 288) and iou.shape == (1, 2, 3)
    params = dict(model.named_parameters())
    assert sum(p.numel() for p in params.values()) == FULL_PARAMS
    assert sum(p.numel() for k, p in params.items() if is_hq_key(k)) == HQ_PARAMS
    assert len(model.state_dict()) == FULL_KEYS
    state = {k: v for k, v in model.state_dict().items() if not is_hq_key(k)}
    assert detect_variant(state) == "sam3_hq"


def test_policies_train_the_right_parts():
    model = build_sam_hq("sam3_hq_demo", seed=0)
    hq = trained_parameter_names(model, "hq")
    assert {n.split(".")[2] for n in hq} == set(HQ_MODULES[:3])  # HQ-SAM 2's design
    fused = trained_parameter_names(build_sam_hq("sam3_hq_ef_demo", seed=0), "hq")
    assert {n.split(".")[2] for n in fused} == set(HQ_MODULES)  # + HQ-SAM 1's early fusion
    decoder = trained_parameter_names(model, "hq+decoder")
    assert set(decoder) > set(hq) and all(
        n.startswith("tracker.sam_mask_decoder.") for n in decoder
    )


def test_lora_presets_reach_the_vit():
    model = build_sam_hq("sam3_hq_demo", seed=0)
    wrapped = add_lora(model, "attn+mlp+decoder", rank=2, alpha=2.0)
    vit = [n for n in wrapped if n.startswith("detector.backbone.vision_backbone.trunk.")]
    assert len(vit) == 4 * VARIANTS["sam3_hq_demo"].vit.depth
    assert any(n.startswith("tracker.sam_mask_decoder.transformer.") for n in wrapped)


def test_predictor_uses_the_square_rule():
    from samhq_train.inference import SamHQPredictor

    model = build_sam_hq("sam3_hq_demo", seed=0)
    predictor = SamHQPredictor(model)
    image = (np.random.default_rng(0).random((150, 200, 3)) * 255).astype(np.uint8)
    predictor.set_image(image)
    masks, scores, low = predictor.predict(box=np.array([20, 30, 150, 120]), multimask_output=False)
    assert masks.shape == (1, 150, 200) and scores.shape == (1,) and low.shape == (1, 64, 64)


def test_cache_size_per_image():
    """The embedding cache holds the three feature maps: at full size 5.31 M values per image,
    21.2 MB in fp32 (10.6 MB in fp16)."""
    with torch.device("meta"):
        model = build(VARIANTS["sam3_hq"])
        features = model.encode(torch.zeros(1, 3, 1008, 1008))
    values = sum(t.numel() for t in features.tensors().values())
    assert values == 256 * 72 * 72 + 32 * 288 * 288 + 64 * 144 * 144 == 5_308_416


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed"
)
def test_onnx_prompt_decoder(tmp_path):
    from samhq_train.inference.onnx_decoder_export import check_onnx, export_onnx

    model = build_sam_hq("sam3_hq_demo", seed=0)
    path = export_onnx(model, tmp_path / "sam3_decoder.onnx")
    assert check_onnx(model, path) < 1e-4


def test_early_fusion_variant(tmp_path, meta_file, meta_model):
    """sam3_hq_ef_demo: the same SAM 3 (a Meta file loads into it with the variant asked; the
    baseline is unchanged), an HQ mask that reads the first global block, and its own files."""
    from samhq_train.model import load_checkpoint, save_checkpoint

    fused = load_checkpoint(meta_file, variant="sam3_hq_ef_demo").eval()
    images = torch.rand(1, 3, 224, 224) * 255
    box = torch.tensor([[[20.0, 30.0, 150.0, 160.0]]])
    with torch.no_grad():
        features = fused.encode(images)
        assert features.early.shape == (1, 16, 16, 64)
        base_fused, _ = fused.decode(features, boxes=box, use_hq=False)
        base, _ = meta_model.decode(meta_model.encode(images), boxes=box, use_hq=False)
        assert torch.equal(base_fused, base)
        with_hq, _ = fused.decode(features, boxes=box, hq_token_only=True)
        for p in fused.sam_mask_decoder.compress_vit_feat.parameters():
            p.add_(0.1)
        changed, _ = fused.decode(features, boxes=box, hq_token_only=True)
    assert (changed - with_hq).abs().max() > 1e-4
    again = load_checkpoint(save_checkpoint(fused, tmp_path / "ef.pt", "sam_hq"))
    assert type(again.sam_mask_decoder).__name__ == "MaskDecoderHQFusion"
    assert detect_variant(again.state_dict()) == "sam3_hq_ef_demo"


def test_seeded_demo_has_the_same_sam3_in_both_designs():
    plain = build_sam_hq("sam3_hq_demo", seed=0).state_dict()
    fused = build_sam_hq("sam3_hq_ef_demo", seed=0).state_dict()
    assert all(torch.equal(v, fused[k]) for k, v in plain.items() if not is_hq_key(k) or "hf_" in k)


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed"
)
def test_onnx_prompt_decoder_early_fusion(tmp_path):
    """The early-fusion variants export too: the graph also takes early_features, and the HQ
    mask reads them (onnxruntime equals torch)."""
    import onnxruntime

    from samhq_train.inference.onnx_decoder_export import check_onnx, export_onnx

    model = build_sam_hq("sam3_hq_ef_demo", seed=0)
    path = export_onnx(model, tmp_path / "sam3_ef_decoder.onnx")
    names = [i.name for i in onnxruntime.InferenceSession(str(path)).get_inputs()]
    assert names[:4] == [
        "image_embeddings",
        "high_res_feats_0",
        "high_res_feats_1",
        "early_features",
    ]
    assert check_onnx(model, path) < 1e-4


def test_transformers_export_is_refused(tmp_path):
    from samhq_train.model import save_checkpoint
    from samhq_train.model.formats import CheckpointError

    model = build_sam_hq("sam3_hq_demo", seed=0)
    with pytest.raises(CheckpointError, match="transformers has no sam3 SAM-HQ model") as err:
        save_checkpoint(model, tmp_path / "hf", "transformers")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "hf").exists()


def test_input_rule():
    """SAM 3's input rule: the image squashed to 1008 x 1008, normalised as (x - 127.5) / 127.5."""
    processing = FAMILY.processing(1008)
    assert processing.input_shape((600, 800)) == (1008, 1008)
    assert processing.eval_transform == "resize"
    model = build_sam_hq("sam3_hq_demo", seed=0)
    assert type(model.processing) is FAMILY.processing
    images = torch.tensor([0.0, 127.5, 255.0]).view(1, 3, 1, 1).expand(1, 3, 224, 224)
    x = model.preprocess(images)
    assert torch.equal(x[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="SAM 3 resizes each image"):
        model.preprocess(torch.zeros(1, 3, 200, 224))
