"""Random decoder outputs and targets for the concept loss tests, in our layout (ConceptTargets)
and in Meta's (the dict Sam3Image.back_convert builds), and Meta's loss at the recipe's settings.

Predictions are placed near the targets (some of each query's o2o predictions, about three
o2m copies per instance) so that both matchers find real matches; all values are random floats,
so no two costs tie."""

import functools

import torch

from samhq_train.data.concept_targets import ConceptTargets
from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy


def random_boxes(n: int, generator) -> torch.Tensor:
    centres = 0.25 + 0.5 * torch.rand(n, 2, generator=generator)
    sizes = 0.1 + 0.3 * torch.rand(n, 2, generator=generator)
    return torch.cat([centres, sizes], dim=1)


def make_targets(counts, mask_size=None, unknown_id_query=None, zero_width_query=None,
                 seed=0) -> ConceptTargets:
    """counts: instances per query; masks of mask_size (one not valid) or none; the instances
    of query unknown_id_query with object id -1, those of zero_width_query 0 wide (both: not
    visible, so the query counts as without instances)."""
    g = torch.Generator().manual_seed(seed)
    num_boxes = torch.tensor(counts, dtype=torch.long)
    boxes = random_boxes(int(num_boxes.sum()), g)
    padded = torch.zeros(len(counts), max(max(counts), 0), 4)
    offsets = torch.cumsum(num_boxes, 0) - num_boxes
    if zero_width_query is not None:
        start = int(offsets[zero_width_query])
        boxes[start: start + counts[zero_width_query], 2] = 0
    for b, n in enumerate(counts):
        padded[b, :n] = boxes[offsets[b]: offsets[b] + n]
    object_ids = torch.arange(len(boxes))
    if unknown_id_query is not None:
        start = int(offsets[unknown_id_query])
        object_ids[start: start + counts[unknown_id_query]] = -1
    masks = valid = None
    if mask_size is not None:
        masks = torch.rand(len(boxes), mask_size, mask_size, generator=g) > 0.6
        valid = torch.arange(len(boxes)) > 0
    exhaustive = torch.tensor([b % 2 == 0 for b in range(len(counts))])
    return ConceptTargets(num_boxes, boxes, padded, masks, valid, exhaustive, object_ids)


def meta_targets(targets: ConceptTargets) -> dict:
    """Our targets in Meta's layout (the keys back_convert gives, object ids padded with -1)."""
    object_ids_padded = torch.full(targets.boxes_padded.shape[:2], -1, dtype=torch.long)
    offsets = torch.cumsum(targets.num_boxes, 0) - targets.num_boxes
    for b, n in enumerate(targets.num_boxes.tolist()):
        object_ids_padded[b, :n] = targets.object_ids[offsets[b]: offsets[b] + n]
    return {
        "boxes": targets.boxes,
        "boxes_xyxy": box_cxcywh_to_xyxy(targets.boxes),
        "boxes_padded": targets.boxes_padded,
        "positive_map": targets.boxes.new_ones(len(targets.boxes), 1),
        "num_boxes": targets.num_boxes,
        "masks": targets.masks,
        "is_valid_mask": targets.is_valid_mask,
        "is_exhaustive": targets.is_exhaustive,
        "object_ids_packed": targets.object_ids,
        "object_ids_padded": object_ids_padded,
    }


def _predicted_boxes(targets, num_queries, per_target, g) -> torch.Tensor:
    """B x Q x 4: per_target jittered copies of each instance first, random boxes after."""
    batch = len(targets.num_boxes)
    boxes = random_boxes(batch * num_queries, g).view(batch, num_queries, 4)
    for b, n in enumerate(targets.num_boxes.tolist()):
        near = targets.boxes_padded[b, :n].repeat_interleave(per_target, 0)[:num_queries]
        jitter = 0.03 * (torch.rand(near.shape, generator=g) - 0.5)
        boxes[b, : len(near)] = near + jitter
    return boxes


def _layer(targets, num_queries, g, presence: bool, mask_hw=None) -> dict:
    batch = len(targets.num_boxes)
    layer = {}
    for suffix, per_target in (("", 1), ("_o2m", 3)):
        boxes = _predicted_boxes(targets, num_queries, per_target, g)
        layer["pred_logits" + suffix] = 2 * torch.randn(batch, num_queries, 1, generator=g)
        layer["pred_boxes" + suffix] = boxes
        layer["pred_boxes_xyxy" + suffix] = box_cxcywh_to_xyxy(boxes)
        if mask_hw is not None:
            masks = torch.randn(batch, num_queries, *mask_hw, generator=g)
            layer["pred_masks" + suffix] = 3 * masks
    if presence:
        layer["presence_logit_dec"] = 2 * torch.randn(batch, 1, generator=g)
    return layer


def make_outputs(targets, num_queries=10, num_aux=2, mask_hw=None, seed=1) -> dict:
    """The training outputs of one step: last layer (masks of mask_hw if given) and num_aux
    earlier layers, each with presence logits and o2m copies (Q each); every tensor a leaf.
    The last layer's prediction near query 0's first instance scores -30: the matcher gives
    that instance a worse box, whose score target (IoU-aware quality) falls to its 0.01 floor."""
    g = torch.Generator().manual_seed(seed)
    outputs = _layer(targets, num_queries, g, presence=True, mask_hw=mask_hw)
    outputs["pred_logits"][0, 0] = -30.0
    outputs["aux_outputs"] = [_layer(targets, num_queries, g, presence=True)
                              for _ in range(num_aux)]
    return clone_outputs(outputs)


def clone_outputs(outputs: dict) -> dict:
    """A copy with fresh leaf tensors (requires_grad) of the same values."""
    copy = {k: v.detach().clone().requires_grad_() for k, v in outputs.items()
            if k != "aux_outputs"}
    if "aux_outputs" in outputs:
        copy["aux_outputs"] = [clone_outputs(aux) for aux in outputs["aux_outputs"]]
    return copy


def output_leaves(outputs: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    leaves = {prefix + k: v for k, v in outputs.items() if k != "aux_outputs"}
    for i, aux in enumerate(outputs.get("aux_outputs", [])):
        leaves.update(output_leaves(aux, f"aux_{i}."))
    return leaves


def meta_matchers():
    from sam3.train.matcher import BinaryHungarianMatcherV2, BinaryOneToManyMatcher

    one_to_one = BinaryHungarianMatcherV2(
        focal=True, cost_class=2.0, cost_bbox=5.0, cost_giou=2.0, alpha=0.25, gamma=2,
        stable=False,
    )
    return one_to_one, BinaryOneToManyMatcher(alpha=0.3, threshold=0.4, topk=4)


def meta_loss_wrapper(with_masks: bool, pad_n_queries: int = 200, pad_scale_pos: float = 1.0):
    """Meta's Sam3LossWrapper as the recipe's yaml builds it (with the segmentation variant's
    Masks when with_masks; pad_scale_pos the recipe's 1 unless given)."""
    from sam3.train.loss.loss_fns import Boxes, IABCEMdetr, Masks
    from sam3.train.loss.sam3_loss import Sam3LossWrapper

    one_to_one, one_to_many = meta_matchers()
    loss_fns = [
        Boxes(weight_dict={"loss_bbox": 5.0, "loss_giou": 2.0}),
        IABCEMdetr(
            weak_loss=False, weight_dict={"loss_ce": 20.0, "presence_loss": 20.0},
            pos_weight=10.0, alpha=0.25, gamma=2, use_presence=True, pos_focal=False,
            pad_n_queries=pad_n_queries, pad_scale_pos=pad_scale_pos,
        ),
    ]
    if with_masks:
        loss_fns.append(Masks(focal_alpha=0.25, focal_gamma=2.0,
                              weight_dict={"loss_mask": 200.0, "loss_dice": 10.0},
                              compute_aux=False))
    return Sam3LossWrapper(
        loss_fns_find=loss_fns, matcher=one_to_one, o2m_matcher=one_to_many, o2m_weight=2.0,
        use_o2m_matcher_on_o2m_aux=False, normalization="global", scale_by_find_batch_size=True,
    )


def meta_focal_without_triton(monkeypatch):
    """Meta's focal loss runs a Triton kernel (CUDA only) by default; its own torch path
    (triton=False, the same formula) stands in on the CPU."""
    from sam3.train.loss import loss_fns

    monkeypatch.setattr(loss_fns, "sigmoid_focal_loss",
                        functools.partial(loss_fns.sigmoid_focal_loss, triton=False))


def meta_step_loss(wrapper, outputs: dict, targets: dict) -> dict:
    """Meta's loss of one step: the o2o matches the model adds (Sam3Image._compute_matching),
    then the wrapper over a one-stage, one-step SAM3Output."""
    from sam3.model.model_misc import SAM3Output

    outputs = dict(outputs)
    outputs["indices"] = wrapper.matcher(outputs, targets)
    outputs["aux_outputs"] = [dict(aux, indices=wrapper.matcher(aux, targets))
                              for aux in outputs["aux_outputs"]]
    stages = SAM3Output(iter_mode=SAM3Output.IterMode.LAST_STEP_PER_STAGE)
    stages.append([outputs])
    return wrapper(stages, [targets])
