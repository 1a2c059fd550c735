"""What the "SAM (no HQ token)" rows of a table measure after a run that changed SAM's own weights.

Policy hq leaves SAM untouched: the decoder without the HQ token is the base SAM. hq+decoder
fine-tunes SAM's mask decoder and hq+lora adds adapters, so the same decoder call scores the
adapted SAM, and its row is labelled for it (report.sam_label). Where everything the policy changed
besides the HQ parts lies in the mask decoder (hq+decoder; LoRA adapters on decoder layers only),
the untouched base is still scored from the same image embedding: `base_decoder_state` keeps the
original values of those parameters (the decoder is small: 4.1 M parameters for every SAM 1
variant) and `parameters_set_to` puts them in the model for one decode. LoRA on the encoder and
policy full change the embedding itself: there the base needs its own encoder pass and is scored
before training instead (validate_before_training).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from samhq_train.model import as_policy, family_of_model, trained_parameter_names


def base_decoder_state(model: nn.Module, policy) -> dict[str, torch.Tensor] | None:
    """Copies of the non-HQ parameters `policy` trains, taken now (before training: the base's
    values; LoRA's B starts at zero, so the adapters' initial values are the base), when all of
    them lie in SAM's mask decoder. None when there are none (policy hq: SAM is untouched) or
    when some lie outside the decoder (the image embedding changes)."""
    family = family_of_model(model)
    trained = trained_parameter_names(model, as_policy(policy))
    names = [n for n in trained if not family.is_hq_key(n)]
    if not names or not all(n.startswith(family.decoder_prefix) for n in names):
        return None
    params = dict(model.named_parameters())
    return {n: params[n].detach().to("cpu", copy=True) for n in names}


@contextmanager
def parameters_set_to(model: nn.Module, state: Mapping[str, torch.Tensor]) -> Iterator[nn.Module]:
    """The model with the parameters named in `state` set to its values, restored on exit (also
    after an error)."""
    params = dict(model.named_parameters())
    kept = {n: params[n].detach().clone() for n in state}
    try:
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        yield model
    finally:
        with torch.no_grad():
            for name, value in kept.items():
                params[name].copy_(value)


__all__ = ["base_decoder_state", "parameters_set_to"]
