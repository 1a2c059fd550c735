"""What each concept policy trains (requires_grad exactly its parts, by module), that `full`
freezes only what Meta's detection forward gives no gradient, that attaching the detector keeps
the model's state and function, and the settings' refusals."""

import pytest
import torch

from samhq_train.concept_settings import ConceptOptimSettings, ConceptPolicy
from samhq_train.model.policy import LoraSettings
from samhq_train.settings import SettingError
from samhq_train.training.concept.optimizer import concept_param_groups
from samhq_train.training.concept.trainable import (
    apply_concept_policy,
    attach_detector,
    prepare_concept_model,
)

pytest.importorskip("sam3")

from samhq_train.model.sam3.concept.detector import concept_detector  # noqa: E402
from samhq_train.model.sam3.concept.scoring import DotProductScoring  # noqa: E402
from tests.model.sam3.concept.meta_detector import (  # noqa: E402
    meta_processor,
    without_pinned_memory,
)

from .optim_models import meta_and_state, ours_attached, ours_loaded, ours_name  # noqa: E402


def ids(*modules) -> set[int]:
    return {id(p) for m in modules for p in m.parameters()}


def detector_parts(model) -> dict[str, set[int]]:
    """The parameters of each part, by module (not by name)."""
    d, vision = model.detector, model.detector.backbone.vision_backbone
    return {
        "trunk": ids(vision.trunk),
        "text": ids(d.backbone.language_backbone),
        "heads": ids(vision.convs, d.geometry_encoder, d.transformer, d.segmentation_head,
                     d.dot_prod_scoring),
    }


@pytest.mark.parametrize("policy", ["full", "detector", "detector+lora"])
def test_policy_trains_exactly_its_parts(policy):
    model, _ = ours_attached()
    model.requires_grad_(True)
    before = {n for n, _ in model.named_parameters()}
    detector = prepare_concept_model(model, policy)
    parts = detector_parts(model)
    trained = {id(p) for p in model.parameters() if p.requires_grad}
    lora = {id(p) for n, p in model.named_parameters() if n.endswith(("lora_A", "lora_B"))}
    expected = parts["heads"] | (parts["trunk"] | parts["text"] if policy == "full" else set())
    if policy == "detector+lora":
        assert lora and lora <= parts["trunk"] and len(lora) == 2 * 2 * 4  # qkv, proj x 4
        expected |= lora
    else:
        assert not lora and {n for n, _ in model.named_parameters()} == before
    assert trained == expected
    assert not any(p.requires_grad for p in model.tracker.parameters())
    assert not any(p.requires_grad for p in model.image_encoder.sam2_convs.parameters())
    assert ids(detector) == parts["heads"] | parts["text"]  # the detector is the model's
    assert ConceptPolicy(policy).trunk_needs_grad == (policy != "detector")
    assert ConceptPolicy(policy).text_needs_grad == (policy == "full")
    prepare_concept_model(model, policy)  # again: nothing added, the same parameters train
    assert {id(p) for p in model.parameters() if p.requires_grad} == expected


def test_full_freezes_only_what_meta_detection_leaves_without_gradient():
    """Meta's grounding forward (text prompt, every output summed) gives no gradient to the
    interactive path's parameters: full freezes no more than those (and our HQ parts)."""
    meta, _ = meta_and_state()
    meta.zero_grad(set_to_none=True)
    size = meta_processor(meta).resolution
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with without_pinned_memory():
        out = meta.backbone.forward_image(image)
        out.update(meta.backbone.forward_text(["a striped cat"], device="cpu"))
        answer = meta.forward_grounding(
            backbone_out=out, find_input=meta_processor(meta).find_stage,
            geometric_prompt=meta._get_dummy_prompt(), find_target=None)
    sum(v.float().sum() for v in answer.values() if torch.is_tensor(v) and v.requires_grad
        ).backward()
    without_gradient = {ours_name(n) for n, p in meta.named_parameters() if p.grad is None}
    with_gradient = {ours_name(n) for n, p in meta.named_parameters() if p.grad is not None}
    meta.zero_grad(set_to_none=True)
    model, _ = ours_attached()
    apply_concept_policy(model, "full")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    hq = {"hf_token", "hf_mlp", "embedding_maskfeature"}
    assert {n for n in frozen if not any(h in n for h in hq)} <= without_gradient
    assert with_gradient <= {n for n, p in model.named_parameters() if p.requires_grad}
    # and some of what it trains gets none either (DDP: find_unused_parameters)
    unreached = {n for n, p in model.named_parameters() if p.requires_grad} - with_gradient
    assert "detector.backbone.language_backbone.encoder.text_projection" in unreached


def test_attach_keeps_state_and_function():
    """Attaching changes no state_dict key, value or storage; the detector's modules are the
    model's (again after a second attach); a step on the model moves what an export holds."""
    model = ours_loaded()
    before = model.state_dict()
    assert not any(isinstance(v, torch.nn.Parameter)
                   for k, v in model.state_dict(keep_vars=True).items()
                   if k.startswith("detector.transformer."))  # carried buffers until attached
    detector = attach_detector(model)
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(after[k].data_ptr() == v.data_ptr() and torch.equal(after[k], v)
               for k, v in before.items())
    assert model.detector.transformer is detector.transformer
    assert isinstance(model.detector.dot_prod_scoring, DotProductScoring)
    again = attach_detector(model)  # a second view on the same modules
    assert again.transformer is detector.transformer
    assert again.backbone.language_backbone is model.detector.backbone.language_backbone
    assert again.backbone.vision_backbone.convs is model.detector.backbone.vision_backbone.convs
    weight = model.detector.transformer.decoder.query_embed.weight
    assert isinstance(weight, torch.nn.Parameter)
    with torch.no_grad():
        weight.add_(1.0)
    key = "detector.transformer.decoder.query_embed.weight"
    assert torch.equal(model.state_dict()[key], meta_and_state()[1][key] + 1.0)
    assert concept_detector(model).transformer.decoder.query_embed.weight.data_ptr() \
        == weight.data_ptr()


def test_refusals():
    with pytest.raises(SettingError, match="concept.policy"):
        ConceptPolicy("hq")
    with pytest.raises(SettingError, match="concept.lora.targets"):
        ConceptPolicy("detector+lora", lora=LoraSettings(targets="attn+mlp+decoder"))
    with pytest.raises(SettingError, match="concept.lr_transformr is not a setting here"):
        ConceptOptimSettings.from_config(lr_transformr=1e-4)
    with pytest.raises(SettingError, match="concept.layer_decay=0: expected"):
        ConceptOptimSettings(layer_decay=0)
    with pytest.raises(SettingError, match="concept.lora.rnk is not a setting here"):
        ConceptPolicy.from_config("detector+lora", {"rnk": 4})
    assert ConceptPolicy.from_config("detector+lora", {"rank": 4}).lora.rank == 4
    with pytest.raises(ValueError, match="attach the detector first"):
        apply_concept_policy(ours_loaded(), "full")


@pytest.mark.parametrize("policy", ["detector", "detector+lora"])
def test_param_groups_hold_exactly_the_policy_parameters(policy):
    """The groups of a frozen-trunk policy: its parameters only; LoRA adapters at the vision lr
    times their block's decay (adapters have no bias: weight decay)."""
    model, _ = ours_attached()
    prepare_concept_model(model, policy)
    s = ConceptOptimSettings()
    groups = concept_param_groups(model, s)
    names = [n for g in groups for n in g["param_names"]]
    assert sorted(names) == sorted(n for n, p in model.named_parameters() if p.requires_grad)
    lrs = {n: (g["lr"], g["weight_decay"]) for g in groups for n in g["param_names"]}
    blocks = len(model.image_encoder.trunk.blocks)
    for name in names:
        if name.endswith(("lora_A", "lora_B")):
            block = int(name.split("blocks.")[1].split(".")[0])
            assert lrs[name] == (pytest.approx(s.lr_vision_backbone * 0.9 ** (blocks - block),
                                               rel=1e-12), s.weight_decay)
    assert any(n.endswith("lora_A") for n in names) == (policy == "detector+lora")
