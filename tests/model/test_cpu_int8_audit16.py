"""cpu_int8 (audit 16): the CPU probe behind `without_vnni` (a wrong answer on an AVX2 CPU runs
the saturating int16 GEMM, on a VNNI one the slower two GEMMs), the availability probe where the
build has the ops (else every int8 test skips), and the two GEMMs of the weights' halves, which
must be the 8-bit product itself, not merely close to fp32's."""

import platform
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model import cpu_int8
from tests.reference import randomize_

needs_int8 = pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")


@pytest.fixture
def fresh_probe():
    cpu_int8.without_vnni.cache_clear()
    yield
    cpu_int8.without_vnni.cache_clear()


def test_without_vnni_follows_torchs_cpu_probe(monkeypatch, fresh_probe):
    for vnni, expected in ((True, False), (False, True)):
        monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda v=vnni: v, raising=False)
        cpu_int8.without_vnni.cache_clear()
        assert cpu_int8.without_vnni() is expected

    def broken():
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", broken, raising=False)
    cpu_int8.without_vnni.cache_clear()
    assert cpu_int8.without_vnni() is True  # unknown: the way that is right on any CPU
    monkeypatch.delattr(torch.cpu, "_is_vnni_supported", raising=False)
    cpu_int8.without_vnni.cache_clear()
    assert cpu_int8.without_vnni() is True


def test_without_vnni_agrees_with_the_cpu_flags(fresh_probe):
    """On Linux: a CPU whose flags name no VNNI at all is without VNNI (this CI's AVX2 CPU)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo")
    flags = next((line for line in cpuinfo.read_text().splitlines()
                  if line.startswith("flags")), "")
    if "vnni" in flags:
        pytest.skip("a VNNI CPU: which kinds torch counts is its own business")
    assert cpu_int8.without_vnni() is True


def test_int8_is_available_where_the_build_has_the_ops():
    """On an x86 build with oneDNN's int8 linear the probe passes: a broken int8 path fails it,
    and `needs_int8` would then skip every int8 test in silence."""
    onednn = getattr(torch.ops, "onednn", None)
    if not (torch.backends.mkldnn.is_available() and hasattr(onednn, "qlinear_pointwise")
            and platform.machine() in ("x86_64", "AMD64")):
        pytest.skip("no oneDNN int8 linear in this build")
    cpu_int8.available.cache_clear()
    assert cpu_int8.available()


@needs_int8
@pytest.mark.parametrize("gelu", [False, True])
def test_the_two_gemms_are_the_8bit_product(monkeypatch, gelu):
    """q = 2 (q // 2) + q % 2 for every q in [-127, 127] (odd negatives included): the result is
    the dequantized weights times the dequantized activations, to bf16's rounding."""
    monkeypatch.setattr(cpu_int8, "without_vnni", lambda: True)
    layer = randomize_(torch.nn.Linear(64, 48), scale=0.5)
    x = torch.randn(29, 64, generator=torch.Generator().manual_seed(3)).bfloat16()
    got = cpu_int8.linear(x, layer, gelu=gelu)
    weight = layer.weight.detach()
    scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12)
    q = torch.round(weight / scales[:, None]).clamp(-127, 127)
    assert (q < 0).any() and (q.remainder(2) == 1).any()
    qx, scale = cpu_int8.quantize_activation(x)
    want = F.linear((qx.float() - cpu_int8.ZERO_POINT) * scale, q * scales[:, None], layer.bias)
    want = (F.gelu(want) if gelu else want).detach()
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    torch.testing.assert_close(got.float(), want, rtol=2**-8, atol=1e-4 * float(want.abs().max()))
