"""Mutation audit (round 10) of the concept detection loss (training/concept/loss.py,
loss_terms.py): the rules the recipe-setting parity cases do not reach, against Meta's
Sam3LossWrapper where the fact is Meta's (a zero-height instance and a lone object id 0 decide
which queries get a score loss, pad_scale_pos other than 1, with_masks on a batch without
masks), and our own refusals and normaliser."""

import pytest
import torch

import samhq_train.training.concept.loss as loss_module
from samhq_train.training.concept.loss import (
    CORE_LOSS,
    ConceptLossSettings,
    _weighted,
    concept_detection_loss,
    loss_normaliser,
    match_decoder_outputs,
    queries_with_instances,
)
from samhq_train.training.concept.loss_terms import mask_terms

from .concept_loss_case import (
    clone_outputs,
    make_outputs,
    make_targets,
    meta_focal_without_triton,
    meta_loss_wrapper,
    meta_step_loss,
    meta_targets,
)
from .test_loss import assert_close_rel, one_process_group  # noqa: F401 (its gloo group)

pytest.importorskip("sam3.train.loss.sam3_loss")


def _equal_metas(outputs, targets, settings, wrapper) -> dict:
    ours = concept_detection_loss(outputs, targets, settings)
    meta = meta_step_loss(wrapper, clone_outputs(outputs), meta_targets(targets))
    assert set(ours) == set(meta)
    for name in meta:
        assert_close_rel(ours[name], meta[name], name)
    return ours


def test_visibility_reads_height_and_object_id_zero_as_metas(monkeypatch):
    """Query 0's one instance has object id 0 (visible: Meta's >= 0); query 2's instances are
    0 high (not visible: no score loss, presence only), as Meta's IABCEMdetr reads them; a
    presence logit of exactly 0 counts as absent in presence_dec_acc (Meta's `> 0.5`)."""
    meta_focal_without_triton(monkeypatch)
    base = make_targets([1, 2, 2], seed=3)
    boxes, padded = base.boxes.clone(), base.boxes_padded.clone()
    boxes[3:, 3] = 0
    padded[2, :, 3] = 0
    targets = base._replace(boxes=boxes, boxes_padded=padded)
    assert int(targets.object_ids[0]) == 0
    assert queries_with_instances(targets).tolist() == [True, True, False]
    outputs = make_outputs(targets, num_aux=1, seed=4)
    outputs["presence_logit_dec"].data[0] = 0.0
    _equal_metas(outputs, targets, ConceptLossSettings(), meta_loss_wrapper(with_masks=False))


@pytest.mark.parametrize("pad_n_queries", [200, 10])
def test_pad_scale_pos_equals_metas(pad_n_queries, monkeypatch):
    """pad_scale_pos 3 scales the positives' score loss only when Q (10) is below pad_n_queries:
    at 200 (padded) and at 10 (not padded: no scaling), as Meta's."""
    meta_focal_without_triton(monkeypatch)
    targets = make_targets([3, 0, 2])
    outputs = make_outputs(targets, num_aux=1)
    settings = ConceptLossSettings(pad_n_queries=pad_n_queries, pad_scale_pos=3.0)
    ours = _equal_metas(outputs, targets, settings,
                        meta_loss_wrapper(False, pad_n_queries, pad_scale_pos=3.0))
    plain = concept_detection_loss(
        outputs, targets, ConceptLossSettings(pad_n_queries=pad_n_queries))
    assert (float(ours["loss_ce"].detach()) != float(plain["loss_ce"].detach())) \
        == (pad_n_queries == 200)


def test_masks_on_a_batch_without_masks_are_zero_as_metas(monkeypatch):
    """with_masks on a box-only batch (targets.masks None): loss_mask and loss_dice 0, the rest
    Meta's."""
    meta_focal_without_triton(monkeypatch)
    targets = make_targets([2, 1])
    assert targets.masks is None
    outputs = make_outputs(targets, num_aux=1, mask_hw=(8, 8))
    ours = _equal_metas(outputs, targets, ConceptLossSettings(with_masks=True),
                        meta_loss_wrapper(with_masks=True))
    assert float(ours["loss_mask"]) == float(ours["loss_dice_o2m"]) == 0.0


def test_bf16_mask_logits_equal_metas(monkeypatch):
    """bf16 mask logits (an autocast forward): resized in fp32 as Meta's Masks does, the terms
    equal Meta's exactly."""
    from sam3.train.loss.loss_fns import Masks

    meta_focal_without_triton(monkeypatch)
    targets = make_targets([2, 1], mask_size=16)
    outputs = make_outputs(targets, num_aux=0, mask_hw=(8, 8))
    matches, _ = match_decoder_outputs(outputs, targets)[""]
    num_boxes = torch.tensor(3.0)
    rounded = {"pred_masks": outputs["pred_masks"].detach().bfloat16()}
    ours = mask_terms(rounded, targets, matches, num_boxes, ConceptLossSettings(with_masks=True))
    meta = Masks(focal_alpha=0.25, focal_gamma=2.0, weight_dict={}).get_loss(
        rounded, meta_targets(targets), tuple(matches), num_boxes)
    for name in ("loss_mask", "loss_dice"):
        assert ours[name].dtype == torch.float32 and torch.equal(ours[name], meta[name]), name


def test_normaliser_is_the_mean_over_processes_when_asked(monkeypatch):
    targets = make_targets([3, 0, 2])
    monkeypatch.setattr(loss_module, "mean_over_ranks_or_stop", lambda count, device: count / 2)
    assert float(loss_normaliser(targets, "cpu")) == 2.5
    assert float(loss_normaliser(targets, "cpu", over_processes=False)) == 5.0
    monkeypatch.setattr(loss_module, "mean_over_ranks_or_stop", lambda count, device: 0.25)
    assert float(loss_normaliser(targets, "cpu")) == 1.0  # at least 1


def test_a_zero_weight_leaves_its_term_out_of_the_total():
    """As Meta's reduce_loss: a weight 0 term is skipped, so a non-finite one cannot poison the
    total."""
    terms = {"loss_bbox": torch.tensor(float("inf")), "loss_giou": torch.tensor(2.0)}
    assert float(_weighted(terms, {"loss_bbox": 0.0, "loss_giou": 3.0})) == 6.0


@pytest.mark.parametrize("name", ["presence_alpha", "mask_focal_alpha"])
def test_focal_alphas_outside_0_1_are_refused(name):
    for fine in (0.0, 1.0):
        ConceptLossSettings(**{name: fine})
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"{name} must be in \\[0, 1\\], got {bad}"):
            ConceptLossSettings(**{name: bad})


def test_the_total_scales_by_the_root_of_the_batch_size():
    targets = make_targets([3, 0, 2, 1])
    outputs = make_outputs(targets, num_aux=1)
    scaled = concept_detection_loss(outputs, targets)[CORE_LOSS]
    plain = concept_detection_loss(
        outputs, targets, ConceptLossSettings(scale_by_find_batch_size=False))[CORE_LOSS]
    assert torch.allclose(scaled, plain * 2.0, rtol=1e-6)


def test_copies_without_masks_get_no_mask_terms_as_metas(monkeypatch):
    """A model whose one-to-many copies carry no pred_masks: the copies' mask terms are left out
    (Meta's special case turning the o2m mask loss off), the rest Meta's."""
    meta_focal_without_triton(monkeypatch)
    targets = make_targets([2, 0, 1], mask_size=16)
    outputs = make_outputs(targets, num_aux=1, mask_hw=(8, 8))
    del outputs["pred_masks_o2m"]
    ours = _equal_metas(outputs, targets, ConceptLossSettings(with_masks=True),
                        meta_loss_wrapper(with_masks=True))
    assert "loss_mask" in ours and "loss_mask_o2m" not in ours and "loss_ce_o2m" in ours
