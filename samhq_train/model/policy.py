"""Trainable policies: what a run trains, in one place.

A policy decides what requires grad, the optimizer's parameter groups (each with its lr factor),
whether the image encoder runs with autograd, and what a training checkpoint and the delta
export hold. That is a separate question from a file's format (which keys make a file HQ-only,
official SAM or SAM-HQ), which is the model family's HQ key set in the registry: changing the
policy never changes how a file is recognised.

  hq          the HQ parts of the family (official SAM-HQ training); encoder under no_grad
  hq+decoder  also SAM's mask decoder (two-way transformer, tokens, upscaling, hypernetwork
              MLPs, IoU head), at lr x decoder_lr_scale
  hq+lora     LoRA adapters (lora.py) on the image encoder (and optionally the two-way
              transformer) plus the HQ parts; the encoder runs with autograd
  full        every parameter (used to pretrain small models)
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from samhq_train.settings import (
    SettingError,
    int_at_least,
    known_keys,
    number,
    one_of,
    require,
    settings_mapping,
    show,
)

from .lora import LORA_TARGETS, add_lora, is_lora_key
from .registry import family_of_model

POLICIES = ("hq", "hq+decoder", "hq+lora", "full")
LR_SCALE_KEYS = ("decoder_lr_scale", "lora_lr_scale", "base_lr_scale")


@dataclass(frozen=True)
class LoraSettings:
    """model.lora: the adapters of policy hq+lora (the config's defaults come from here)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    # attn | attn+mlp | attn+mlp+decoder (lora.LORA_TARGETS), or a list of module-name patterns
    targets: str | tuple[str, ...] = "attn"

    def __post_init__(self):
        if not isinstance(self.targets, str):
            object.__setattr__(self, "targets", tuple(self.targets))
        int_at_least("model.lora.rank", self.rank, 1)
        number("model.lora.alpha", self.alpha, lambda v: v > 0, "a number > 0")
        number("model.lora.dropout", self.dropout, lambda v: 0 <= v < 1, "a value in [0, 1)")
        require(
            "model.lora.targets",
            self.targets,
            lambda v: (
                (isinstance(v, str) and (v in LORA_TARGETS or "*" in v or "." in v))
                or (isinstance(v, tuple) and len(v) > 0 and all(isinstance(t, str) for t in v))
            ),
            f"a preset ({', '.join(sorted(LORA_TARGETS))}) or a list of module-name patterns",
        )


@dataclass(frozen=True)
class TrainablePolicy:
    """model.policy and its settings (the config's defaults come from here); a bad value is a
    SettingError naming its full key."""

    name: str = "hq"  # model.policy
    decoder_lr_scale: float = 0.1  # hq+decoder: SAM's mask decoder at lr x this
    lora_lr_scale: float = 1.0  # hq+lora: the adapters at lr x this
    base_lr_scale: float = 1.0  # full: everything but the HQ parts at lr x this
    lora: LoraSettings = LoraSettings()

    def __post_init__(self):
        one_of("model.policy", self.name, POLICIES)
        for key in LR_SCALE_KEYS:
            number(f"model.{key}", getattr(self, key), lambda v: v > 0, "a number > 0")
        require("model.lora", self.lora, lambda v: isinstance(v, LoraSettings), "LoRA settings")

    @classmethod
    def from_config(cls, name: str = "hq", **settings) -> "TrainablePolicy":
        """From plain config values (model.policy's name, the lr scales, a model.lora mapping);
        one line naming the key for a bad one (before any weights)."""
        known = list(LoraSettings.__dataclass_fields__)
        lora = settings_mapping("model.lora", settings.pop("lora", None), known)
        known_keys("model", list(settings), LR_SCALE_KEYS)
        known_keys("model.lora", list(lora), known)
        return cls(name=name, lora=LoraSettings(**lora), **settings)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["lora"]["targets"] = (
            list(self.lora.targets) if not isinstance(self.lora.targets, str) else self.lora.targets
        )
        return out


def check_own_settings(policy, default, own_keys: dict[str, str], group: str) -> None:
    """SettingError for a setting <group>.<key> of `own_keys` (key -> the policy that reads it)
    set away from its value in `default` while <group>.policy is another one: the run would
    ignore it in silence. `policy`, `default`: records with the policy's `name` and the keys as
    (dotted) attributes; image training's model.* and concept training's concept.* use it."""
    for key, owner in own_keys.items():
        ours, theirs = policy, default
        for part in key.split("."):
            ours, theirs = getattr(ours, part), getattr(theirs, part)
        if policy.name != owner and ours != theirs:
            raise SettingError(f"{group}.{key}", message=(
                f"{group}.{key}={show(ours)} is a setting of {group}.policy={owner}, which this "
                f"run does not use ({group}.policy={policy.name}): add {group}.policy={owner}, "
                f"or remove {group}.{key}"))


def as_policy(policy: "str | TrainablePolicy | dict") -> TrainablePolicy:
    if isinstance(policy, TrainablePolicy):
        return policy
    if isinstance(policy, dict):
        return TrainablePolicy.from_config(**policy)
    return TrainablePolicy.from_config(policy)


def prepare_model(model: nn.Module, policy) -> nn.Module:
    """Add what the policy trains that the model lacks (LoRA adapters), then set requires_grad.
    Raises ValueError naming model.lora.* when the LoRA settings do not fit the model."""
    policy = as_policy(policy)
    if policy.name == "hq+lora" and not any(is_lora_key(n) for n, _ in model.named_parameters()):
        s = policy.lora
        try:
            add_lora(model, s.targets, s.rank, s.alpha, s.dropout)
        except ValueError as err:
            raise ValueError(f"model.lora: {err}") from None
    return apply_policy(model, policy)


def _group_of(model: nn.Module, name: str, policy: TrainablePolicy) -> str | None:
    """The optimizer group a parameter belongs to under the policy, or None if it is frozen."""
    family = family_of_model(model)
    if family.is_hq_key(name):
        return "hq"
    if policy.name == "hq+decoder" and name.startswith(family.decoder_prefix):
        return "decoder"
    if policy.name == "hq+lora" and is_lora_key(name):
        return "lora"
    if policy.name == "full":
        return "base"
    return None


def trained_parameter_names(model: nn.Module, policy="hq") -> list[str]:
    policy = as_policy(policy)
    return [name for name, _ in model.named_parameters() if _group_of(model, name, policy)]


def apply_policy(model: nn.Module, policy="hq") -> nn.Module:
    """Set requires_grad to exactly the policy's parameters."""
    policy = as_policy(policy)
    for name, param in model.named_parameters():
        param.requires_grad_(_group_of(model, name, policy) is not None)
    return model


def check_policy_applied(model: nn.Module, policy="hq") -> None:
    """Raise if requires_grad disagrees with the policy for any parameter."""
    policy = as_policy(policy)
    wrong = [n for n, p in model.named_parameters() if p.requires_grad != (_group_of(model, n, policy) is not None)]
    if wrong:
        raise RuntimeError(
            f"trainable parameters disagree with policy {policy.name!r} for {len(wrong)} tensors, first: "
            f"{wrong[:5]}; call apply_policy(model, {policy.name!r})"
        )


def parameter_groups(model: nn.Module, policy) -> list[dict]:
    """Optimizer parameter groups holding exactly the policy's parameters, each with the factor
    (`lr_scale`) its lr gets over the optimizer's; `scale_group_lrs` applies it."""
    policy = as_policy(policy)
    scale = {"hq": 1.0, "decoder": policy.decoder_lr_scale, "lora": policy.lora_lr_scale, "base": policy.base_lr_scale}
    groups: dict[str, list] = {}
    for name, param in model.named_parameters():
        group = _group_of(model, name, policy)
        if group is not None:
            groups.setdefault(group, []).append(param)
    return [{"name": g, "params": ps, "lr_scale": scale[g]} for g, ps in groups.items()]


def scale_group_lrs(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Multiply each group's lr by its lr_scale, once, right after the optimizer is built."""
    for group in optimizer.param_groups:
        if group.get("lr_scale", 1.0) != 1.0:
            group["lr"] = group["lr"] * group["lr_scale"]
    return optimizer


def trained_state_dict(model: nn.Module, policy="hq") -> dict[str, torch.Tensor]:
    """The tensors a training checkpoint and the delta export hold under `policy`."""
    names = set(trained_parameter_names(model, policy))
    return {k: v for k, v in model.state_dict().items() if k in names}


def encoder_needs_grad(policy) -> bool:
    """Whether the image encoder must run with autograd (it has trained parameters)."""
    return as_policy(policy).name in ("hq+lora", "full")


def trained_modules(model: nn.Module, policy="hq") -> list[nn.Module]:
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


def reaches_every_parameter(policy) -> bool:
    """Whether every training step gives each of the policy's parameters a gradient. hq and
    hq+lora do; hq+decoder and full train parts a step may not reach (SAM's own mask and IoU
    heads under the HQ loss, the embeddings of prompt kinds a batch lacks; under full also SAM
    2.1's / SAM 3's video parts), which DDP must look for (find_unused_parameters)."""
    return as_policy(policy).name in ("hq", "hq+lora")
