"""ConceptDetector.forward_train against Meta's Sam3Image in train mode (DAC, every decoder layer's
outputs, the one-to-many copies, masks of both halves) at the miniature's sizes, every dropout 0:
2 images, 3 queries (2 distinct phrases), text only and with exemplar boxes; every output key
equal, then the gradients of one scalar of all outputs wrt every detector parameter and the trunk
map. And in eval mode, Meta's eval outputs."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("sam3")

from sam3.model.geometry_encoders import Prompt  # noqa: E402

from samhq_train.model.sam3 import VARIANTS  # noqa: E402
from samhq_train.model.sam3.concept.detector import INTERACTIVE_PREFIXES, ConceptDetector  # noqa: E402
from samhq_train.model.sam3.concept.geometry import ExemplarPrompt  # noqa: E402

from .meta_detector import (  # noqa: E402
    VARIANT,
    build_meta_image_model,
    meta_for_training,
    without_pinned_memory,
    write_merges_file,
)

TEXTS = ("a striped cat", "two dogs")
TEXT_IDS = torch.tensor([0, 1, 1])  # query -> phrase
IMAGE_IDS = torch.tensor([1, 0, 1])  # query -> image
TOL = 1e-5  # outputs: max |ours - Meta's| / max(1, max |Meta's|), fp32 (measured 5.4e-7)
GRAD_TOL = 3e-5  # gradients: max |ours - Meta's| / max |Meta's| per parameter (measured 8.7e-6)
# a constant added to every key's attention logit leaves the softmax unchanged: these biases'
# true gradient is 0, both sides hold fp32 noise (~1e-5 where other gradients reach ~1e2)
SHIFT_INVARIANT = tuple(
    f"transformer.decoder.boxRPB_embed_{axis}.layers.1.bias" for axis in ("x", "y")
)
# Meta's keys that are its internals, not predictions
META_ONLY = {"encoder_hidden_states", "prev_encoder_out", "presence_feats", "presence_logit"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    bpe = tmp_path_factory.mktemp("concept_train") / "bpe.txt.gz"
    write_merges_file(bpe)
    meta, _ = build_meta_image_model(bpe)
    meta = meta_for_training(meta)
    cfg = VARIANTS[VARIANT]
    ours = ConceptDetector(
        dataclasses.replace(cfg.concept, dropout=0.0),
        vit_dim=cfg.vit.embed_dim,
        scale_factors=cfg.neck_scale_factors,
    )
    skip = tuple(p[len("detector."):] for p in INTERACTIVE_PREFIXES) + ("inst_interactive",)
    state = {k: v for k, v in meta.state_dict().items() if not k.startswith(skip)}
    ours.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
    tokenizer = meta.backbone.language_backbone.tokenizer
    ids = tokenizer(list(TEXTS), context_length=cfg.concept.context_length)
    gen = torch.Generator().manual_seed(5)
    trunk = torch.randn(2, cfg.vit.embed_dim, cfg.vit.grid, cfg.vit.grid, generator=gen)
    return meta, ours.train(), ids, trunk


def exemplar_boxes():
    """Query 0: two boxes (an example, a counter-example); query 1: none; query 2: one."""
    boxes = torch.tensor([
        [[0.4, 0.5, 0.3, 0.2], [0.7, 0.3, 0.2, 0.4]],
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
        [[0.25, 0.6, 0.4, 0.5], [0.0, 0.0, 0.0, 0.0]],
    ])
    labels = torch.tensor([[1, 0], [1, 1], [1, 1]])
    padding = torch.tensor([[False, False], [True, True], [False, True]])
    return ExemplarPrompt.of(3, boxes=boxes, box_labels=labels, box_padding=padding)


def meta_forward(meta, trunk, exemplars):
    meta.backbone.vision_backbone.trunk.trunk_map = trunk
    backbone_out = meta.backbone.forward_image(torch.zeros(trunk.shape[0], 3, 8, 8))
    backbone_out.update(meta.backbone.forward_text(list(TEXTS), device="cpu"))
    find_input = SimpleNamespace(img_ids=IMAGE_IDS, text_ids=TEXT_IDS)
    batch = len(IMAGE_IDS)
    if exemplars is None:
        no_boxes = torch.zeros(batch, 0, dtype=torch.bool)
        prompt = Prompt(box_embeddings=torch.zeros(0, batch, 4), box_mask=no_boxes)
    else:
        prompt = Prompt(
            box_embeddings=exemplars.boxes.transpose(0, 1),
            box_mask=exemplars.box_padding,
            box_labels=exemplars.box_labels.transpose(0, 1),
        )
    with without_pinned_memory():
        return meta.forward_grounding(backbone_out, find_input, None, prompt)


def flat(out: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of an outputs dict by its path (aux_outputs.N.key)."""
    items = {}
    for key, value in out.items():
        if key == "aux_outputs":
            for i, aux in enumerate(value):
                items.update(flat(aux, f"{prefix}aux_outputs.{i}."))
        elif key not in META_ONLY:
            items[prefix + key] = value
    return items


def scalar(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """A fixed random weighting of every output (sorted paths, so both sides weigh alike)."""
    gen = torch.Generator().manual_seed(9)
    return sum(
        (outputs[k] * torch.randn(outputs[k].shape, generator=gen)).sum() for k in sorted(outputs)
    )


def max_error(got: torch.Tensor, want: torch.Tensor, floor: float = 1.0) -> float:
    return ((got - want).abs().max() / want.abs().max().clamp(min=floor)).item()


def run_both(pair, exemplars):
    meta, ours, ids, trunk = pair
    meta.zero_grad(set_to_none=True)
    ours.zero_grad(set_to_none=True)
    meta_trunk, our_trunk = (trunk.clone().requires_grad_(True) for _ in range(2))
    want = flat(meta_forward(meta, meta_trunk, exemplars))
    got = flat(ours.forward_train(our_trunk, IMAGE_IDS, ids[TEXT_IDS], exemplars))
    return meta, ours, (meta_trunk, want), (our_trunk, got)


def assert_outputs_equal(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    errors = {k: max_error(got[k], want[k]) for k in want}
    assert max(errors.values()) <= TOL, errors


def test_text_only_train_outputs_equal_meta(pair):
    with torch.no_grad():
        _, _, (_, want), (_, got) = run_both(pair, None)
    assert len([k for k in got if k.startswith("aux_outputs.0.")]) == 7  # 3 keys x 2 + presence
    assert "pred_masks_o2m" in got and got["pred_logits_o2m"].shape == (3, 12, 1)
    assert_outputs_equal(got, want)


def test_train_outputs_and_gradients_with_exemplars_equal_meta(pair):
    meta, ours, (meta_trunk, want), (our_trunk, got) = run_both(pair, exemplar_boxes())
    assert_outputs_equal(got, want)
    scalar(want).backward()
    scalar(got).backward()
    meta_params = dict(meta.named_parameters())
    reached = set()
    for name, param in ours.named_parameters():
        mine = param.grad if param.grad is not None else torch.zeros_like(param)
        theirs = meta_params[name].grad
        theirs = theirs if theirs is not None else torch.zeros_like(param)
        if name in SHIFT_INVARIANT:
            assert max(mine.abs().max(), theirs.abs().max()) < 1e-3, name
            continue
        assert max_error(mine, theirs, floor=1e-12) <= GRAD_TOL, name
        if mine.abs().max() > 0:
            reached.add(name)
    assert max_error(our_trunk.grad, meta_trunk.grad, floor=1e-12) <= GRAD_TOL
    assert our_trunk.grad.abs().max() > 0
    for part in ("backbone.vision_backbone.convs", "backbone.language_backbone",
                 "geometry_encoder.boxes_", "geometry_encoder.encode", "transformer.encoder",
                 "transformer.decoder", "segmentation_head", "dot_prod_scoring"):
        assert any(name.startswith(part) for name in reached), part


def test_eval_outputs_equal_meta(pair):
    meta, ours, ids, trunk = pair
    meta.eval(), ours.eval()
    try:
        with torch.no_grad():
            want = flat(meta_forward(meta, trunk, exemplar_boxes()))
            got = flat(ours.forward_train(trunk, IMAGE_IDS, ids[TEXT_IDS], exemplar_boxes()))
    finally:
        meta.train(), ours.train()
    assert not any("o2m" in k or "aux" in k for k in got)
    assert_outputs_equal(got, want)
