"""Audit 21: what makes a torch file SAM-HQ's decoder alone (hq_decoder): all three of its
output tokens under no module name; SAM's plain decoder saved alone is not one."""

import pytest
import torch

from samhq_train.model import CheckpointError, inspect
from tests.reference import random_tiny_model


@pytest.fixture(scope="module")
def decoder():
    state = random_tiny_model(seed=0).state_dict()
    return {k[len("mask_decoder."):]: v for k, v in state.items()
            if k.startswith("mask_decoder.")}


def test_sams_decoder_alone_without_the_hq_token_is_not_an_hq_decoder(tmp_path, decoder):
    """iou_token and mask_tokens (SAM's decoder has them too) without hf_token. Mutants: any
    token enough; hf_token not required."""
    path = tmp_path / "decoder.pth"
    torch.save({k: v for k, v in decoder.items() if not k.startswith("hf_")}, path)
    try:
        format = inspect(path).format
    except CheckpointError:
        format = None  # refused as no model: fine, it is no hq_decoder either
    assert format != "hq_decoder"
    assert inspect_hq(tmp_path, decoder) == "hq_decoder"


def inspect_hq(tmp_path, decoder):
    path = tmp_path / "epoch_3.pth"
    torch.save(decoder, path)
    return inspect(path).format
