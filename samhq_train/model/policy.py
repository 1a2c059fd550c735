"""Trainable policies: what a run trains (requires grad, optimizer groups, checkpoint contents).

A separate question from a file's format (which keys make a file HQ-only, official SAM or SAM-HQ),
which is the model family's HQ key set in the registry: changing the policy never changes how a
file is recognised. Only `hq` exists so far: the HQ parts of the model's family, the rest frozen
(the encoder runs under no_grad).
"""

import torch
from torch import nn

from .registry import family_of_model

POLICIES = ("hq",)


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"unknown trainable policy {policy!r}; choose one of {list(POLICIES)}")
    return policy


def is_trained(model: nn.Module, name: str, policy: str = "hq") -> bool:
    """Whether parameter `name` of `model` is trained under `policy`."""
    check_policy(policy)
    return family_of_model(model).is_hq_key(name)


def trained_parameter_names(model: nn.Module, policy: str = "hq") -> list[str]:
    return [name for name, _ in model.named_parameters() if is_trained(model, name, policy)]


def apply_policy(model: nn.Module, policy: str = "hq") -> nn.Module:
    """Set requires_grad to exactly the policy's parameters."""
    for name, param in model.named_parameters():
        param.requires_grad_(is_trained(model, name, policy))
    return model


def check_policy_applied(model: nn.Module, policy: str = "hq") -> None:
    """Raise if requires_grad disagrees with the policy for any parameter."""
    wrong = [n for n, p in model.named_parameters() if p.requires_grad != is_trained(model, n, policy)]
    if wrong:
        raise RuntimeError(
            f"trainable parameters disagree with policy {policy!r} for {len(wrong)} tensors, first: "
            f"{wrong[:5]}; call apply_policy(model, {policy!r})"
        )


def trained_state_dict(model: nn.Module, policy: str = "hq") -> dict[str, torch.Tensor]:
    """The tensors a training checkpoint and the delta export hold under `policy`."""
    names = set(trained_parameter_names(model, policy))
    return {k: v for k, v in model.state_dict().items() if k in names}


def encoder_needs_grad(policy: str) -> bool:
    """Whether the image encoder must run with autograd (it has trained parameters)."""
    check_policy(policy)
    return False


def trained_modules(model: nn.Module, policy: str = "hq") -> list[nn.Module]:
    """The outermost modules all of whose parameters are trained: these follow train()/eval(),
    everything else stays in eval mode."""
    trained = set(trained_parameter_names(model, policy))
    out, covered = [], ()
    for name, module in model.named_modules():
        if covered and name.startswith(covered):
            continue
        params = [f"{name}.{n}" if name else n for n, _ in module.named_parameters()]
        if params and all(p in trained for p in params):
            out.append(module)
            covered = covered + (f"{name}.",)
    return out
