"""SAM 3's detection loss for fine-tuning the concept detector on one training step: Meta's
Sam3LossWrapper with the fine-tuning recipe's matchers and terms (roboflow_v100 full fine-tune:
Boxes, IABCEMdetr and, with masks, Masks).

Every decoder output (the last layer's and each earlier layer's under "aux_outputs") is matched to
the targets one-to-one (Hungarian); its one-to-many query copies (the keys ending in "_o2m") are
matched by the one-to-many matcher on the last layer and by the Hungarian one on the earlier ones
(the recipe's use_o2m_matcher_on_o2m_aux false). Box and score terms are taken on every output
and its copies (the copies' terms times one_to_many_weight, named with an "_o2m" suffix); mask
terms on the last layer's output and copies only. Sums are over the batch's instance count,
averaged over processes (at least 1). The total ("core_loss") is the weighted sum of the terms,
times sqrt(B) for a batch of B queries (scale_by_find_batch_size)."""

from dataclasses import dataclass

import torch

from samhq_train.concept_settings import CONCEPT_WITH_MASKS
from samhq_train.data.concept_targets import ConceptTargets
from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy
from samhq_train.training.step_failures import mean_over_ranks_or_stop

from .loss_terms import box_terms, classification_terms, mask_terms
from .matcher import Matches, OneToManyMatcher, OneToOneMatcher

CORE_LOSS = "core_loss"
O2M_SUFFIX = "_o2m"


@dataclass(frozen=True)
class ConceptLossSettings:
    """The recipe's values. with_masks adds the mask terms (the recipe's segmentation variant);
    normalize_over_processes false normalises by this process's instance count (Meta's "local",
    the same at world size 1)."""

    one_to_one: OneToOneMatcher = OneToOneMatcher()
    one_to_many: OneToManyMatcher = OneToManyMatcher()
    one_to_many_weight: float = 2.0
    one_to_many_matcher_on_aux: bool = False
    weight_bbox: float = 5.0
    weight_giou: float = 2.0
    weight_ce: float = 20.0
    weight_presence: float = 20.0
    pos_weight: float = 10.0
    ce_alpha: float = 0.25
    ce_gamma: float = 2.0
    pad_n_queries: int | None = 200
    pad_scale_pos: float = 1.0
    presence_alpha: float = 0.5
    presence_gamma: float = 0.0
    with_masks: bool = CONCEPT_WITH_MASKS
    weight_mask: float = 200.0
    weight_dice: float = 10.0
    mask_focal_alpha: float = 0.25
    mask_focal_gamma: float = 2.0
    normalize_over_processes: bool = True
    scale_by_find_batch_size: bool = True

    def __post_init__(self):
        for name in ("presence_alpha", "mask_focal_alpha"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def loss_normaliser(targets: ConceptTargets, device, over_processes: bool = True) -> torch.Tensor:
    """The instance count of the batch (its mean over processes with over_processes, an
    all-reduce that also stops the step when a process failed to load its batch:
    training/step_failures.py), at least 1, as a float32 scalar on `device`."""
    count = float(targets.num_boxes.sum())
    if over_processes:
        count = mean_over_ranks_or_stop(count, device)
    return torch.tensor(max(count, 1.0), dtype=torch.float32, device=device)


def queries_with_instances(targets: ConceptTargets) -> torch.Tensor:
    """B (bool): the query has a visible instance (a known object id, width and height > 0);
    the others are supervised by the presence logit alone."""
    batch = len(targets.num_boxes)
    rows = torch.repeat_interleave(torch.arange(batch, device=targets.boxes.device),
                                   targets.num_boxes.to(targets.boxes.device))
    visible = (targets.object_ids >= 0) & (targets.boxes[:, 2] > 0) & (targets.boxes[:, 3] > 0)
    present = torch.zeros(batch, dtype=torch.bool, device=targets.boxes.device)
    present[rows[visible]] = True
    return present


def _decoder_outputs(outputs: dict) -> list[tuple[dict, str, bool]]:
    """(output, name suffix, is an earlier layer's) of the last layer and each earlier one."""
    layers = [(outputs, "", False)]
    layers += [(aux, f"_aux_{i}", True) for i, aux in enumerate(outputs.get("aux_outputs", []))]
    return layers


def _one_to_many_copies(output: dict) -> dict | None:
    if "pred_logits" + O2M_SUFFIX not in output:
        return None
    return {k[: -len(O2M_SUFFIX)]: v for k, v in output.items() if k.endswith(O2M_SUFFIX)}


def _match(matcher, output: dict, targets: ConceptTargets) -> Matches:
    return matcher(output["pred_logits"], output["pred_boxes"], targets.num_boxes,
                   targets.boxes_padded)


def match_decoder_outputs(
    outputs: dict, targets: ConceptTargets, settings: ConceptLossSettings = ConceptLossSettings()
) -> dict[str, tuple[Matches, Matches | None]]:
    """Name suffix ("" for the last layer, "_aux_<i>") -> (its one-to-one matches, its copies'
    matches or None without copies)."""
    matched = {}
    for output, suffix, is_aux in _decoder_outputs(outputs):
        copies = _one_to_many_copies(output)
        copies_matches = None
        if copies is not None:
            use_many = settings.one_to_many_matcher_on_aux or not is_aux
            matcher = settings.one_to_many if use_many else settings.one_to_one
            copies_matches = _match(matcher, copies, targets)
        matched[suffix] = (_match(settings.one_to_one, output, targets), copies_matches)
    return matched


def _weighted(terms: dict, weights: dict):
    total = 0.0
    for name, weight in weights.items():
        if weight != 0:
            total = total + terms[name] * weight
    return total


def concept_detection_loss(
    outputs: dict, targets: ConceptTargets, settings: ConceptLossSettings = ConceptLossSettings()
) -> dict[str, torch.Tensor]:
    """Model outputs of one step (Meta's keys, see the module) and the batch's targets ->
    {"core_loss": the total to back-propagate, each named term: loss_bbox, loss_giou, loss_ce,
    presence_loss (and, with masks, loss_mask, loss_dice) and the metrics ce_f1,
    presence_dec_acc, suffixed "_aux_<i>" for earlier layers and "_o2m" for the copies
    (unweighted, but the copies' times one_to_many_weight, as Meta logs them)}."""
    if settings.with_masks and "pred_masks" not in outputs:
        raise ValueError("the mask terms need the outputs' pred_masks (with_masks is set)")
    device = outputs["pred_logits"].device
    num_boxes = loss_normaliser(targets, device, settings.normalize_over_processes)
    boxes_xyxy = box_cxcywh_to_xyxy(targets.boxes)
    has_instances = queries_with_instances(targets)
    s = settings
    families = [
        (lambda out, m: box_terms(out, targets.boxes, boxes_xyxy, m, num_boxes),
         {"loss_bbox": s.weight_bbox, "loss_giou": s.weight_giou}, True),
        (lambda out, m: classification_terms(out, boxes_xyxy, has_instances, m, s),
         {"loss_ce": s.weight_ce, "presence_loss": s.weight_presence}, True),
    ]
    if settings.with_masks:
        families.append((lambda out, m: mask_terms(out, targets, m, num_boxes, s),
                         {"loss_mask": s.weight_mask, "loss_dice": s.weight_dice}, False))

    matched = match_decoder_outputs(outputs, targets, settings)
    losses, total = {}, 0.0
    for output, suffix, is_aux in _decoder_outputs(outputs):
        matches, copies_matches = matched[suffix]
        copies = _one_to_many_copies(output)
        for terms_of, weights, on_aux in families:
            if is_aux and not on_aux:
                continue
            terms = terms_of(output, matches)
            total = total + _weighted(terms, weights)
            losses.update({f"{k}{suffix}": v for k, v in terms.items()})
            if copies is None or ("loss_mask" in weights and "pred_masks" not in copies):
                continue
            terms = terms_of(copies, copies_matches)
            total = total + _weighted(terms, weights) * s.one_to_many_weight
            losses.update({f"{k}{suffix}{O2M_SUFFIX}": v * s.one_to_many_weight
                           for k, v in terms.items()})
    if settings.scale_by_find_batch_size:
        total = total * len(targets.num_boxes) ** 0.5
    losses[CORE_LOSS] = total
    return losses
