"""samhq_train.finite: the one-line names of non-finite tensors (which value, how many more)."""

import torch

from samhq_train.finite import describe_non_finite, kind_of, non_finite_names


def test_kind_of_names_the_first_non_finite_element():
    assert kind_of(torch.tensor([1.0, float("-inf"), float("nan")])) == "-inf"
    assert kind_of(torch.tensor([[float("nan")], [float("inf")]])) == "nan"
    assert kind_of(float("inf")) == "inf"
    assert kind_of(torch.ones(2, dtype=torch.bfloat16)) == "finite"


def test_describe_non_finite_counts_the_others():
    tensors = {
        "a": torch.tensor([float("inf")]),
        "b": torch.tensor([float("nan")]),
        "c": torch.tensor([float("nan")]),
        "d": torch.ones(1),
    }
    names = non_finite_names(tensors)
    assert names == ["a", "b", "c"]
    assert describe_non_finite(names[:1], tensors) == "a holds inf"
    assert describe_non_finite(names[1:], tensors) == "b holds nan (and 1 more tensor)"
    assert describe_non_finite(names, tensors) == "a holds inf (and 2 more tensors)"
