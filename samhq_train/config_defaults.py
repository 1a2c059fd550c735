"""The defaults the config takes from the typed records, so that each key has one default.

`data.prompts.*` defaults are PromptConfig's, `clicks.*` (evaluation) ClickProtocol's,
`model.policy` / its lr scales / `model.lora.*` are TrainablePolicy's and LoraSettings',
`metrics.dilation_ratio` is constants.BOUNDARY_DILATION_RATIO; the `concept` group's (policy,
lora, with_masks, the optimiser's) are concept_settings.py's records', the `video` group's (the
optimiser's, drop_path_rate / dropout, prompts.*, loss.*) video_settings.py's. They reach the
composed config through Hydra's ConfigStore: conf/train.yaml and conf/eval.yaml name
`record_defaults` (train.yaml `policy_defaults`, eval.yaml `click_defaults`) in their defaults
lists, experiment=concept_finetune `concept_defaults`, experiment=video_finetune
`video_defaults` (and the demos built on them), and the
`metrics` group's `default` option is stored here, as is the `${demo_base:file}` resolver of the
demo bases' configs. Importing this module registers them (the entry points import it through
samhq_train.config_check before Hydra composes).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from samhq_train.concept_settings import (
    CONCEPT_WITH_MASKS,
    ConceptOptimSettings,
    ConceptPolicy,
)
from samhq_train.constants import BOUNDARY_DILATION_RATIO, DEMO_BASE_DIR
from samhq_train.data import ClickProtocol, PromptConfig
from samhq_train.model import TrainablePolicy
from samhq_train.video_settings import (
    ClipPromptSettings,
    VideoLossSettings,
    VideoOptimSettings,
    VideoRegularisation,
)

DEFAULT_ATTENTION = "auto"  # model.attention: FlexAttention on CUDA where it serves, else SDPA


def policy_settings_defaults() -> dict:
    """model.policy and its settings as the config holds them, from TrainablePolicy's defaults."""
    settings = TrainablePolicy().to_dict()
    return {"policy": settings.pop("name"), **settings}


def concept_settings_defaults() -> dict:
    """The `concept` group's record defaults: concept.policy, concept.lora.*, with_masks and
    the optimiser's keys (ConceptPolicy, CONCEPT_WITH_MASKS, ConceptOptimSettings)."""
    policy = ConceptPolicy()
    return {"policy": policy.name, "lora": asdict(policy.lora), "with_masks": CONCEPT_WITH_MASKS,
            **asdict(ConceptOptimSettings())}


def video_settings_defaults() -> dict:
    """The `video` group's record defaults: the optimiser's keys, drop_path_rate / dropout,
    prompts.* and loss.* (VideoOptimSettings, VideoRegularisation, ClipPromptSettings,
    VideoLossSettings)."""
    return {**asdict(VideoOptimSettings()), **asdict(VideoRegularisation()),
            "prompts": asdict(ClipPromptSettings()), "loss": asdict(VideoLossSettings())}


# the Hydra configs (shipped inside the package); whoever composes them imports this module, which
# registers the records' defaults that conf/train.yaml and conf/eval.yaml name
CONFIG_DIR = Path(__file__).resolve().parent / "conf"


def register_config_defaults() -> None:
    """Store `record_defaults`, `policy_defaults`, `click_defaults`, `concept_defaults`,
    `video_defaults` and `metrics/default` in Hydra's ConfigStore."""
    store = ConfigStore.instance()
    shared = {
        "model": {"attention": DEFAULT_ATTENTION},
        "data": {"prompts": asdict(PromptConfig())},
    }
    store.store(name="record_defaults", node=shared)
    store.store(name="policy_defaults", node={"model": policy_settings_defaults()})
    store.store(name="click_defaults", node={"clicks": ClickProtocol().to_dict()})
    store.store(name="concept_defaults", node={"concept": concept_settings_defaults()})
    store.store(name="video_defaults", node={"video": video_settings_defaults()})
    store.store(group="metrics", name="default", node={"dilation_ratio": BOUNDARY_DILATION_RATIO})
    # ${demo_base:file}: a shipped demo base's path, whatever folder the command runs in
    OmegaConf.register_new_resolver(
        "demo_base", lambda name: str(DEMO_BASE_DIR / name), replace=True
    )


register_config_defaults()

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_ATTENTION",
    "concept_settings_defaults",
    "policy_settings_defaults",
    "register_config_defaults",
    "video_settings_defaults",
]
