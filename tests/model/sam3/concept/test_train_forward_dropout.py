"""The concept detector's training forward without Meta's package: dropout (Meta's 0.1 by default)
acts in train mode, in each part that Meta's model_builder gives it, and never in eval mode; with
rate 0 the training forward is deterministic; gradients reach every trainable part and the trunk
map; wrong batch shapes are refused."""

import dataclasses

import pytest
import torch

from samhq_train.model.sam3 import VARIANTS
from samhq_train.model.sam3.concept.detector import ConceptDetector
from tests.reference import randomize_

CFG = VARIANTS["sam3_hq_demo"]
IMAGE_IDS = torch.tensor([1, 0, 1])


def detector(dropout: float | None = None, dac: bool = True) -> ConceptDetector:
    concept = dataclasses.replace(CFG.concept, dac=dac)
    concept = concept if dropout is None else dataclasses.replace(concept, dropout=dropout)
    model = ConceptDetector(
        concept, vit_dim=CFG.vit.embed_dim, scale_factors=CFG.neck_scale_factors
    )
    return randomize_(model, seed=3, scale=0.3)


def batch(requires_grad: bool = False):
    gen = torch.Generator().manual_seed(4)
    trunk = torch.randn(2, CFG.vit.embed_dim, CFG.vit.grid, CFG.vit.grid, generator=gen)
    ids = torch.randint(1, CFG.concept.vocab_size, (3, CFG.concept.context_length), generator=gen)
    ids[:, 5:] = 0  # padding after 5 tokens
    ids[2, 3:] = 0
    return trunk.requires_grad_(requires_grad), IMAGE_IDS, ids


def predictions(out: dict) -> torch.Tensor:
    return torch.cat([out["pred_logits"].flatten(), out["pred_boxes"].flatten(),
                      out["pred_masks"].flatten(), out["presence_logit_dec"].flatten()])


def test_default_rate_is_metas():
    assert CFG.concept.dropout == 0.1 and dataclasses.replace(CFG.concept).decoder.dropout == 0.1


def test_dropout_acts_in_train_mode_only():
    model = detector()
    with torch.no_grad():
        first, second = (predictions(model.train().forward_train(*batch())) for _ in range(2))
        assert not torch.equal(first, second)
        first, second = (predictions(model.eval().forward_train(*batch())) for _ in range(2))
        assert torch.equal(first, second)


@pytest.mark.parametrize(
    "part", ["transformer.encoder", "transformer.decoder", "geometry_encoder", "dot_prod_scoring"]
)
def test_each_part_drops_out(part):
    """Only `part` in train mode (the detector's forward stays eval: no DAC): its dropout alone
    makes two calls differ."""
    model = detector().eval()
    model.get_submodule(part).train()
    with torch.no_grad():
        first, second = (predictions(model.forward_train(*batch())) for _ in range(2))
    assert not torch.equal(first, second)


def test_without_dropout_training_is_deterministic_and_eval_is_the_inference_path():
    model = detector(dropout=0.0).train()
    with torch.no_grad():
        first, second = (model.forward_train(*batch()) for _ in range(2))
        assert torch.equal(predictions(first), predictions(second))
        assert first["pred_logits_o2m"].shape == first["pred_logits"].shape == (3, 12, 1)
        assert len(first["aux_outputs"]) == CFG.concept.decoder_layers - 1
        assert "pred_logits_o2m" in first["aux_outputs"][0]
        without_dac = detector(dropout=0.0, dac=False).train().forward_train(*batch())
        assert not any("o2m" in key for key in [*without_dac, *without_dac["aux_outputs"][0]])
        # eval: the inference path's answer (one image: the neck's convs batch alike)
        trunk, _, ids = batch()
        evaluated = model.eval().forward_train(trunk[:1], torch.tensor([0]), ids[1:2])
        single = model(model.encode_image(trunk[:1]), ids[1:2])
    assert "aux_outputs" not in evaluated and "pred_logits_o2m" not in evaluated
    for key, value in (("pred_logits", single.logits[..., None]), ("pred_boxes", single.boxes),
                       ("presence_logit_dec", single.presence_logit[:, None]),
                       ("pred_masks", single.mask_logits)):
        assert torch.allclose(evaluated[key], value, atol=1e-5, rtol=0), key


def test_gradients_reach_every_trainable_part_and_the_trunk_map():
    model = detector().train()
    trunk, image_ids, ids = batch(requires_grad=True)
    out = model.forward_train(trunk, image_ids, ids)
    loss = sum(out[k].sum() for k in ("pred_logits", "pred_boxes", "pred_masks",
                                      "presence_logit_dec", "pred_logits_o2m", "pred_masks_o2m"))
    loss = loss + sum(aux["pred_boxes"].sum() for aux in out["aux_outputs"])
    loss.backward()
    assert trunk.grad.abs().max() > 0
    reached = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    for part in ("backbone.vision_backbone.convs", "backbone.language_backbone",
                 "geometry_encoder.encode", "transformer.encoder", "transformer.decoder.layers",
                 "transformer.decoder.query_embed", "transformer.decoder.reference_points",
                 "segmentation_head", "dot_prod_scoring"):
        assert any(name.startswith(part) for name in reached), part


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t, i, d: (t[0], i, d), "trunk_maps"),
        (lambda t, i, d: (t, i.int(), d), "image_index"),
        (lambda t, i, d: (t, i, d[:2]), "token_ids"),
        (lambda t, i, d: (t, i + 1, d), r"\[0, 2\)"),
    ],
)
def test_batch_shapes_are_checked(change, message):
    with pytest.raises(ValueError, match=message):
        detector().forward_train(*change(*batch()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA autocast needs a GPU")
def test_decoder_ffn_runs_in_fp32_under_cuda_autocast():
    """Meta's decoder layer leaves CUDA autocast for its FFN (bf16 training keeps it fp32)."""
    model = detector().cuda().train()
    seen = []
    layer = model.transformer.decoder.layers[0]
    layer.linear2.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    layer.self_attn.register_forward_hook(lambda module, args, out: seen.append(out[0].dtype))
    trunk, image_ids, ids = batch()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        model.forward_train(trunk.cuda(), image_ids.cuda(), ids.cuda())
    assert seen == [torch.bfloat16, torch.float32]
