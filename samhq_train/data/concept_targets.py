"""The ground truth of a batch of concept queries (one query = one image x one noun phrase), as
SAM 3's detection loss reads it: Meta's find targets after Sam3Image.back_convert, with our names.

Boxes are (cx, cy, w, h) normalised to the padded square input, packed query after query (query
b owns rows sum(num_boxes[:b]) ... + num_boxes[b]) and also padded per query (B x M x 4, M the
largest count, zero rows beyond a query's count), as Meta's matcher and losses use both."""

from typing import NamedTuple

import torch


class ConceptTargets(NamedTuple):
    """num_boxes B (long); boxes N x 4 (packed, N = num_boxes.sum()); boxes_padded B x M x 4;
    masks N x H x W (bool, the instances' masks at the input's size) or None when the batch has
    no masks (box-only training); is_valid_mask N (bool: an instance whose mask may be scored) or
    None with masks; is_exhaustive B (bool: every instance of the phrase annotated, so unmatched
    queries are true negatives); object_ids N (long, as Meta's collate_fn_api fills them: the
    instance's index among its image's kept instances, so >= 0; -1 would mark an instance that
    is not visible, which Meta's presence loss skips)."""

    num_boxes: torch.Tensor
    boxes: torch.Tensor
    boxes_padded: torch.Tensor
    masks: torch.Tensor | None
    is_valid_mask: torch.Tensor | None
    is_exhaustive: torch.Tensor
    object_ids: torch.Tensor
