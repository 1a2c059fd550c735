"""SAM 3's detection loss (training/concept/loss.py) against Meta's Sam3LossWrapper at the
fine-tuning recipe's settings, fp32: every named term and the total within 1e-6 relative, the
gradients wrt every output tensor too, and the matches of every decoder output equal; the same
under bf16 autocast on bf16 logits (where Meta's trainer computes its loss).

Meta's "global" normalisation all-reduces the instance count: the module runs inside a
one-process gloo group (ours then averages over that group too). Meta's focal loss is its torch
path (its Triton kernel needs CUDA)."""

import pytest
import torch
import torch.distributed as dist

from samhq_train.training.concept.loss import (
    CORE_LOSS,
    ConceptLossSettings,
    concept_detection_loss,
    match_decoder_outputs,
)

from .concept_loss_case import (
    clone_outputs,
    make_outputs,
    make_targets,
    meta_focal_without_triton,
    meta_loss_wrapper,
    meta_step_loss,
    meta_targets,
    output_leaves,
)

pytest.importorskip("sam3.train.loss.sam3_loss")

RTOL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_process_group(tmp_path_factory):
    if dist.is_initialized():
        yield
        return
    store = tmp_path_factory.mktemp("gloo") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def assert_close_rel(ours: torch.Tensor, meta: torch.Tensor, what: str) -> float:
    """Equal within RTOL of the pair's largest magnitude (a gradient's entries sum several
    terms, so an entry that cancels to near 0 keeps the rounding of its terms); returns that
    relative difference."""
    ours, meta = torch.as_tensor(ours).detach(), torch.as_tensor(meta).detach()
    assert ours.shape == meta.shape, what
    scale = max(float(ours.abs().max()), float(meta.abs().max()), 1e-12)
    relative = float((ours - meta).abs().max()) / scale
    assert relative <= RTOL, f"{what}: relative difference {relative:.3g}"
    return relative


def _triples(batch, query, target) -> list[tuple[int, int, int]]:
    return sorted(zip(batch.tolist(), query.tolist(), target.tolist(), strict=True))


def _meta_triples(indices, num_boxes) -> list[tuple[int, int, int]]:
    batch, query, target = indices
    if target is None:  # every instance matched, in the order of the packed targets
        target = torch.arange(int(num_boxes.sum()))
    return _triples(batch, query, target)


CASES = {
    # 4 queries (one without instances, one with 0-wide ones), 10 o2o + 10 o2m predictions,
    # 2 earlier layers, masks
    "masks": dict(counts=[3, 0, 2, 1], mask_size=16, mask_hw=(8, 8), with_masks=True,
                  zero_width_query=3),
    # box-only; a query whose instances have unknown ids (no score loss: presence only); as
    # many predictions as pad_n_queries (the score loss a plain mean)
    "boxes": dict(counts=[2, 4, 0], mask_size=None, mask_hw=None, with_masks=False,
                  unknown_id_query=0, pad_n_queries=10),
    # a batch without any instance (every loss but the presence one is 0)
    "empty": dict(counts=[0, 0], mask_size=16, mask_hw=(8, 8), with_masks=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_terms_total_and_gradients_equal_metas(case, monkeypatch):
    spec = CASES[case]
    meta_focal_without_triton(monkeypatch)
    targets = make_targets(spec["counts"], spec["mask_size"], spec.get("unknown_id_query"),
                           spec.get("zero_width_query"))
    outputs = make_outputs(targets, mask_hw=spec["mask_hw"])
    meta_outputs = clone_outputs(outputs)

    pad_n_queries = spec.get("pad_n_queries", 200)
    settings = ConceptLossSettings(with_masks=spec["with_masks"], pad_n_queries=pad_n_queries)
    ours = concept_detection_loss(outputs, targets, settings)
    wrapper = meta_loss_wrapper(spec["with_masks"], pad_n_queries)
    meta = meta_step_loss(wrapper, meta_outputs, meta_targets(targets))

    assert set(ours) == set(meta)
    assert {"loss_bbox_aux_1_o2m", "presence_loss", "loss_ce_o2m"} <= set(ours)
    assert ("loss_mask_o2m" in ours) == spec["with_masks"]
    term_diff = max(assert_close_rel(ours[name], meta[name], name) for name in meta)
    assert float(ours[CORE_LOSS].detach()) > 0
    assert (float(ours["loss_giou"].detach()) > 0) == (case != "empty")

    ours[CORE_LOSS].backward()
    meta[CORE_LOSS].backward()
    meta_leaves = output_leaves(meta_outputs)
    grad_diffs = []
    for name, leaf in output_leaves(outputs).items():
        assert (leaf.grad is None) == (meta_leaves[name].grad is None), name
        if leaf.grad is not None:
            grad_diffs.append(assert_close_rel(leaf.grad, meta_leaves[name].grad, f"grad {name}"))
    assert len(grad_diffs) == len(meta_leaves)
    print(f"{case}: {len(meta)} terms, largest relative difference {term_diff:.2g}; "
          f"{len(grad_diffs)} gradients, {max(grad_diffs):.2g}")


def test_matches_of_every_decoder_output_equal_metas():
    targets = make_targets([3, 0, 2])
    outputs = make_outputs(targets)
    wrapper = meta_loss_wrapper(with_masks=False)
    meta = meta_targets(targets)
    ours = match_decoder_outputs(outputs, targets)

    layers = [("", outputs)] + [(f"_aux_{i}", aux) for i, aux in enumerate(outputs["aux_outputs"])]
    assert sorted(ours) == sorted(s for s, _ in layers)
    for suffix, layer in layers:
        copies = {k[:-4]: v for k, v in layer.items() if k.endswith("_o2m")}
        # the recipe: the one-to-many matcher on the last layer's copies only
        copies_matcher = wrapper.o2m_matcher if suffix == "" else wrapper.matcher
        one, many = ours[suffix]
        assert _triples(*one) == _meta_triples(wrapper.matcher(layer, meta), targets.num_boxes)
        meta_many = _meta_triples(copies_matcher(copies, meta), targets.num_boxes)
        assert _triples(*many) == meta_many
        assert len(one.batch) == 5
        assert len(meta_many) > 5 if suffix == "" else len(meta_many) == 5


def test_the_mask_terms_need_predicted_masks():
    targets = make_targets([1, 2], mask_size=16)
    outputs = make_outputs(targets)
    with pytest.raises(ValueError, match="pred_masks"):
        concept_detection_loss(outputs, targets, ConceptLossSettings(with_masks=True))


def bf16_logits(outputs: dict) -> dict:
    """The outputs as a bf16 autocast forward gives them: score, presence and mask logits bf16,
    boxes fp32 (fresh leaves)."""
    copy = {k: (v.detach().bfloat16() if k.startswith(("pred_logits", "presence", "pred_masks"))
                else v.detach().clone()).requires_grad_()
            for k, v in outputs.items() if k != "aux_outputs"}
    if "aux_outputs" in outputs:
        copy["aux_outputs"] = [bf16_logits(aux) for aux in outputs["aux_outputs"]]
    return copy


@pytest.mark.parametrize("case", ["masks", "boxes"])
def test_loss_under_bf16_autocast_equals_metas(case, monkeypatch):
    """Meta's trainer computes the loss inside its bf16 autocast, on bf16 logits: ours there
    gives Meta's terms (fp32 each, the mask logits resized in fp32) and gradients of Meta's
    dtypes (measured: equal but for 1e-7 in a few box gradients)."""
    spec = CASES[case]
    meta_focal_without_triton(monkeypatch)
    targets = make_targets(spec["counts"], spec["mask_size"], spec.get("unknown_id_query"),
                           spec.get("zero_width_query"))
    outputs = bf16_logits(make_outputs(targets, mask_hw=spec["mask_hw"]))
    meta_outputs = clone_outputs(outputs)
    pad_n_queries = spec.get("pad_n_queries", 200)
    settings = ConceptLossSettings(with_masks=spec["with_masks"], pad_n_queries=pad_n_queries)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = concept_detection_loss(outputs, targets, settings)
        meta = meta_step_loss(meta_loss_wrapper(spec["with_masks"], pad_n_queries),
                              meta_outputs, meta_targets(targets))
    assert set(ours) == set(meta)
    for name in meta:
        assert ours[name].dtype == meta[name].dtype == torch.float32, name
        assert_close_rel(ours[name], meta[name], name)
    ours[CORE_LOSS].backward()
    meta[CORE_LOSS].backward()
    meta_leaves = output_leaves(meta_outputs)
    for name, leaf in output_leaves(outputs).items():
        assert leaf.grad.dtype == meta_leaves[name].grad.dtype == leaf.dtype, name
        assert_close_rel(leaf.grad.float(), meta_leaves[name].grad.float(), f"grad {name}")
    assert outputs["pred_logits"].grad.dtype == torch.bfloat16
