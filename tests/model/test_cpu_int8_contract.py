"""Two promises of model/cpu_int8.py that the closeness bounds elsewhere cannot see: a kernel
that runs is never reported unavailable (a quantization bug would otherwise turn into the bf16
fallback, and every int8 test would skip), and weights are quantized per output channel (a
per-tensor scale stays within the layer-wide bounds while its small channels lose their digits)."""

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model import cpu_int8


def _ops_present() -> bool:
    ops = cpu_int8._ops()
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "qlinear_pointwise")
        and hasattr(ops, "qlinear_prepack")
    )


def test_a_kernel_that_runs_passes_the_availability_probe():
    if not _ops_present():
        pytest.skip("this torch build has no oneDNN int8 linear")
    try:
        ok = cpu_int8._probe()
    except (RuntimeError, NotImplementedError, TypeError):  # what available() calls missing
        pytest.skip("the oneDNN int8 kernel does not run on this CPU")
    assert ok, "the int8 linear runs but gives wrong numbers: available() hides it as missing"
    assert cpu_int8.available()


def test_weights_are_quantized_per_output_channel():
    if not cpu_int8.available():
        pytest.skip("no oneDNN int8 linear")
    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(64, 8)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(8, 64, generator=gen) * 0.01)
        layer.weight[0] *= 1000  # one loud channel: a shared scale would leave the others ~1 step
        layer.bias.zero_()
    x = torch.randn(16, 64, generator=gen).bfloat16()
    got = cpu_int8.linear(x, layer).float()
    want = F.linear(x.float(), layer.weight, layer.bias).detach()
    quiet = slice(1, None)
    # per channel: each quiet channel within a few % of its own magnitude (weights to 1/254 of
    # their channel's max, inputs to 1/254 of max|x|, bf16 output rounding)
    error = (got[:, quiet] - want[:, quiet]).abs().max()
    assert error < 0.05 * want[:, quiet].abs().max(), float(error)
