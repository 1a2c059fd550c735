"""The ONNX decoder check's tolerance grows with an output's largest value, linearly: a model
whose mask logits reach ~70 is allowed 1e-4 of that at a logit near 0, and twice that fails
(a tolerance growing faster, e.g. with the square, would pass a wrong graph)."""

import copy

import numpy as np
import pytest
import torch

from samhq_train.inference import onnx_decoder_export
from samhq_train.inference.onnx_decoder_export import check_onnx, export_onnx
from tests.reference import random_tiny_model


@pytest.fixture(scope="module")
def large_logits(tmp_path_factory):
    """A tiny model whose mask logits reach tens (its mask MLPs' outputs x 40), exported."""
    model = random_tiny_model(seed=4)
    with torch.no_grad():
        for mlp in [*model.mask_decoder.output_hypernetworks_mlps, model.mask_decoder.hf_mlp]:
            mlp.layers[-1].weight.mul_(40)
            mlp.layers[-1].bias.mul_(40)
    path = export_onnx(copy.deepcopy(model), tmp_path_factory.mktemp("onnx") / "decoder.onnx")
    return model, path


@pytest.mark.parametrize("off, where, passes", [(0.9, "near_zero", True), (2.0, "near_zero", False),
                                               (1.5, "largest", True)])
def test_large_logits_are_allowed_their_scale_once(large_logits, monkeypatch, off, where,
                                                   passes):
    """At the largest logit, the relative part adds its 1e-4 too."""
    model, path = large_logits
    exact = onnx_decoder_export.run_onnx
    largest = []

    def rounded(session, inputs):
        masks, *rest = exact(session, inputs)
        largest.append(float(np.abs(masks).max()))
        pick = np.abs(masks).argmin() if where == "near_zero" else np.abs(masks).argmax()
        element = np.unravel_index(pick, masks.shape)
        masks[element] += (1 if masks[element] >= 0 else -1) * off * 1e-4 * np.abs(masks).max()
        return [masks, *rest]

    monkeypatch.setattr(onnx_decoder_export, "run_onnx", rounded)
    if passes:
        check_onnx(model, path)
    else:
        with pytest.raises(RuntimeError, match="masks differs from torch"):
            check_onnx(model, path)
    assert min(largest) > 20
