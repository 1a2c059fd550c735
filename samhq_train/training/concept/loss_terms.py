"""The three families of terms of SAM 3's detection loss on one decoder output and its matches
(Meta's Boxes, IABCEMdetr and Masks at the fine-tuning recipe's settings). Each returns its
named values; the weights and the total are loss.py's. `num_boxes` is the loss's normaliser
(the batch's instance count, averaged over processes, at least 1), a float32 scalar tensor."""

import torch
import torch.nn.functional as F
from torchmetrics.functional import f1_score

from samhq_train.training.losses import dice_loss, sigmoid_focal_loss

from .box_overlap import matched_box_iou, matched_generalized_box_iou
from .matcher import Matches


def box_terms(outputs, target_boxes, target_boxes_xyxy, matches: Matches, num_boxes):
    """loss_bbox: the L1 distance of each matched box (cx, cy, w, h) to its target, summed and
    over num_boxes; loss_giou: 1 - GIoU (x0, y0, x1, y1), likewise."""
    pairs = (matches.batch, matches.query)
    l1 = F.l1_loss(outputs["pred_boxes"][pairs], target_boxes[matches.target], reduction="none")
    giou = matched_generalized_box_iou(
        outputs["pred_boxes_xyxy"][pairs], target_boxes_xyxy[matches.target]
    )
    return {"loss_bbox": l1.sum() / num_boxes, "loss_giou": (1 - giou).sum() / num_boxes}


def classification_terms(
    outputs, target_boxes_xyxy, has_instances, matches: Matches, settings
) -> dict[str, torch.Tensor]:
    """IABCEMdetr without weak loss, with presence and pad_n_queries (settings: a
    ConceptLossSettings).

    A matched prediction's BCE target is its IoU-aware quality max(0.01, p^alpha IoU^(1-alpha))
    (detached), weighted pos_weight (times pad_scale_pos when Q < pad_n_queries); an unmatched
    one's target is 0, weighted p^gamma. A query without any visible instance (has_instances
    false) gets no score loss: the presence logit carries it (focal loss, presence_alpha,
    presence_gamma, mean over queries). The score loss is averaged over pad_n_queries predictions
    per query when Q is smaller (the missing ones count as zero loss), else over all. ce_f1 and
    presence_dec_acc are logged metrics (0.5 thresholds), no loss."""
    logits = outputs["pred_logits"].squeeze(-1)
    prob = logits.sigmoid()
    pairs = (matches.batch, matches.query)
    with torch.no_grad():
        is_matched = torch.zeros(logits.shape, dtype=torch.float, device=logits.device)
        is_matched[pairs] = 1
        iou = matched_box_iou(outputs["pred_boxes_xyxy"][pairs], target_boxes_xyxy[matches.target])
        quality = prob[pairs] ** settings.ce_alpha * iou ** (1 - settings.ce_alpha)
        soft_targets = is_matched.clone()
        soft_targets[pairs] = quality.clamp(min=0.01)

    loss = F.binary_cross_entropy_with_logits(logits, soft_targets, reduction="none")
    loss = loss * is_matched * settings.pos_weight
    pad_n = settings.pad_n_queries
    padded = pad_n is not None and logits.shape[1] < pad_n
    if padded:
        loss = loss * settings.pad_scale_pos
    negative = F.binary_cross_entropy_with_logits(logits, is_matched, reduction="none")
    loss = loss + negative * (1 - is_matched) * prob**settings.ce_gamma

    present = has_instances.to(loss.dtype)[:, None]  # B x 1
    loss = loss * present
    presence_loss = torch.tensor(0.0, device=logits.device)
    presence_acc = torch.tensor(0.0, device=logits.device)
    if "presence_logit_dec" in outputs:
        presence = outputs["presence_logit_dec"].view_as(present)
        presence_loss = sigmoid_focal_loss(
            presence, present, settings.presence_alpha, settings.presence_gamma
        ).mean(1).sum() / presence.shape[0]
        presence_acc = ((presence.sigmoid() > 0.5).float() == present).float().mean()

    loss = loss.sum() / (pad_n * loss.shape[0]) if padded else loss.mean()
    f1 = f1_score(logits.sigmoid().flatten(), target=is_matched.flatten().long(), task="binary")
    return {"loss_ce": loss, "ce_f1": f1, "presence_loss": presence_loss,
            "presence_dec_acc": presence_acc}


def mask_terms(outputs, targets, matches: Matches, num_boxes, settings) -> dict[str, torch.Tensor]:
    """Masks at the recipe's settings (no point sampling): each matched prediction whose target
    has a valid mask, its logits bilinearly resized to the target masks' size (align_corners
    False, in fp32 when they are bf16); loss_mask: focal loss (mask_focal_alpha, _gamma), mean
    over pixels, summed over masks, over num_boxes; loss_dice: dice (+1 smoothing), summed, over
    num_boxes. Zero for a batch without masks (targets.masks None)."""
    pred = outputs["pred_masks"]
    if targets.masks is None:
        zero = torch.tensor(0.0, device=pred.device)
        return {"loss_mask": zero, "loss_dice": zero.clone()}
    valid = targets.is_valid_mask[matches.target]
    gt = targets.masks[matches.target].to(pred)[valid]
    pred = pred[matches.batch, matches.query][valid]
    if len(pred) == 0:
        pred = pred.flatten(1)
        gt = gt.reshape(pred.shape)
    else:
        if pred.dtype == torch.bfloat16:
            pred = pred.float()
        pred = F.interpolate(pred[:, None], size=gt.shape[-2:], mode="bilinear",
                             align_corners=False)[:, 0].flatten(1)
        gt = gt.flatten(1)
    focal = sigmoid_focal_loss(pred, gt, settings.mask_focal_alpha, settings.mask_focal_gamma)
    return {"loss_mask": focal.mean(1).sum() / num_boxes,
            "loss_dice": dice_loss(pred, gt, num_boxes)}
