"""The ONNX decoder check's random inputs vary every input of the early-fusion graph, the early
features included (an input left constant would let a graph that mishandles it pass)."""

import torch

from samhq_train.inference.onnx_decoder_export import onnx_decoder
from samhq_train.model import build_sam_hq


def test_every_example_input_is_random():
    wrapper = onnx_decoder(build_sam_hq("sam3_hq_ef_demo", seed=0))
    a, b = wrapper.example_inputs(3, seed=1), wrapper.example_inputs(3, seed=2)
    features = len(wrapper.example_features(torch.Generator().manual_seed(0)))
    assert features == 4  # embedding, the two high-res maps, the early features
    for x, y in zip(a[:features], b[:features]):
        assert x.std() > 0.5 and not torch.equal(x, y)
