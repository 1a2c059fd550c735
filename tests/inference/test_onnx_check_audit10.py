"""Mutation audit (round 10) of the ONNX export checks' comparison (inference/onnx_check.py) on
hand-made outputs: the furthest-off output is the one named (not the first), a shape or a bool
output that differs fails, the difference is relative to torch's values, a NaN fails, and the
largest relative difference comes back."""

import numpy as np
import pytest

from samhq_train.errors import CheckFailedError
from samhq_train.inference.onnx_check import OnnxCheckError, compare_relative

NAMES = ("masks", "scores", "keep")


def _outputs():
    want = [np.linspace(-2.0, 2.0, 12).reshape(3, 4), np.array([0.5, -4.0]),
            np.array([True, False, True])]
    return [w.copy() for w in want], want


def _compare(got, want, tolerance=1e-4):
    return compare_relative("out/model.onnx", "the graph", NAMES, got, want, tolerance, "input 1")


def test_the_largest_relative_difference_comes_back():
    got, want = _outputs()
    assert _compare(got, want) == 0.0
    got[0][0, 0] += 1e-5  # 5e-6 of its largest |value| 2
    got[1][1] += 3.2e-5  # 8e-6 of 4: the larger of both, relative
    assert _compare(got, want) == pytest.approx(8e-6, rel=1e-6)


def test_the_output_furthest_beyond_the_tolerance_is_named():
    got, want = _outputs()
    got[0] += 4e-4  # 2e-4 of 2
    got[1] += 1.2e-3  # 3e-4 of 4: further
    with pytest.raises(OnnxCheckError) as err:
        _compare(got, want)
    assert isinstance(err.value, CheckFailedError)
    assert str(err.value).startswith(
        "ONNX check failed: out/model.onnx (the graph): onnxruntime's scores differs from torch "
        "by 0.0003 of its largest |value| (tolerance 0.0001; input 1)")


def test_relative_to_torchs_values_not_onnxruntimes():
    """onnxruntime's scores 1000 times torch's: 999 of torch's largest |value| off (relative
    to onnxruntime's it would be under 1)."""
    got, want = _outputs()
    got[1] = want[1] * 1000
    with pytest.raises(OnnxCheckError, match="scores differs from torch by 999 of"):
        _compare(got, want, tolerance=1.0)


@pytest.mark.parametrize("spoil, finding", [
    (lambda got: got.__setitem__(2, np.array([True, True, True])),
     "onnxruntime's keep differs from torch in 1 of 3 values (they must be equal; input 1)"),
    (lambda got: got.__setitem__(1, np.zeros(3)),
     "onnxruntime's scores has shape (3,), torch's (2,) (input 1)"),
    (lambda got: got[0].__setitem__((1, 1), np.nan), "onnxruntime's masks differs from torch by "
     "nan of its largest |value|"),
])
def test_a_bool_a_shape_or_a_nan_fails(spoil, finding):
    got, want = _outputs()
    spoil(got)
    with pytest.raises(OnnxCheckError) as err:
        _compare(got, want)
    assert finding in str(err.value) and "removed" not in str(err.value)
    err.value.outcome = "out/model.onnx removed"  # what export_model adds
    assert finding in str(err.value) and str(err.value).endswith("; out/model.onnx removed")
