"""The concept loss without a process group (one GPU, no DDP): the instance count is this
process's own (at least 1), the same loss as with normalize_over_processes off."""

import torch
import torch.distributed as dist

from samhq_train.training.concept.loss import (
    CORE_LOSS,
    ConceptLossSettings,
    concept_detection_loss,
    loss_normaliser,
)

from .concept_loss_case import make_outputs, make_targets


def test_the_loss_needs_no_process_group():
    assert not dist.is_initialized()
    targets = make_targets([3, 0, 2])
    assert float(loss_normaliser(targets, "cpu")) == 5.0
    assert float(loss_normaliser(make_targets([0, 0]), "cpu")) == 1.0
    outputs = make_outputs(targets, num_aux=1)
    over_processes = concept_detection_loss(outputs, targets)
    local = concept_detection_loss(
        outputs, targets, ConceptLossSettings(normalize_over_processes=False)
    )
    assert set(over_processes) == set(local)
    for name, value in local.items():
        assert torch.equal(over_processes[name], value), name
    over_processes[CORE_LOSS].backward()
    assert outputs["pred_boxes"].grad.abs().sum() > 0
