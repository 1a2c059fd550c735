"""The `concept` group's keys a concept run reads (experiment=concept_finetune), checked in one
line each before anything heavy: samhq-train's check stage (run/checks.py) runs
check_concept_config before the training stack is imported, and train_concept runs it when
called on its own. Light on purpose: no Lightning, torchmetrics or the detection loss here
(tests/cli/test_startup_imports.py)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from samhq_train.concept_settings import (
    CONCEPT_POLICY_OWN_KEYS,
    CONCEPT_WITH_MASKS,
    ConceptOptimSettings,
    ConceptPolicy,
)
from samhq_train.data.demo_concepts import DEMO_MERGES_FILE
from samhq_train.errors import ConfigValueError
from samhq_train.model.policy import check_own_settings
from samhq_train.model_from_config import absolute_path
from samhq_train.training.run_config_checks import (
    FP32_WEIGHT_PRECISIONS,
    check_precision,
    run_family,
)
from samhq_train.training.run_families import CONCEPT_RUN_FAMILIES

RUN_KEYS = ("policy", "lora", "bpe", "with_masks", "init_missing_detector")
OPTIM_KEYS = tuple(ConceptOptimSettings.__dataclass_fields__)


def concept_settings(cfg) -> tuple[ConceptPolicy, ConceptOptimSettings, bool]:
    """The `concept` group's policy, optimiser settings and with_masks (the loss's mask terms);
    one line for a bad key."""
    values = OmegaConf.to_container(cfg.concept, resolve=True)
    for key in values:
        if key not in RUN_KEYS + OPTIM_KEYS:
            raise ConfigValueError(f"concept.{key} is not a setting: use one of "
                                   f"{', '.join(RUN_KEYS + OPTIM_KEYS)}")
    with_masks = values.get("with_masks", CONCEPT_WITH_MASKS)
    if not isinstance(with_masks, bool):
        raise ConfigValueError(f"concept.with_masks={values['with_masks']}: expected true "
                               "(the mask terms too) or false (the recipe's boxes only)")
    policy = ConceptPolicy.from_config(values.get("policy", ConceptPolicy().name),
                                       values.get("lora"))
    # concept.lora.rank=16 with policy detector: refused, not ignored in silence
    check_own_settings(policy, ConceptPolicy(), CONCEPT_POLICY_OWN_KEYS, "concept")
    optim = ConceptOptimSettings.from_config(**{k: v for k, v in values.items()
                                                if k in OPTIM_KEYS})
    return policy, optim, with_masks


def check_concept_config(cfg) -> None:
    """The keys a concept run reads, before anything heavy (the data's files: run/checks.py's
    check_concept_data)."""
    run_family(cfg, CONCEPT_RUN_FAMILIES, "concept fine-tuning trains SAM 3's text detector: use "
               "model=sam3_hq (model.checkpoint=/path/sam3.pt)")
    check_precision(cfg, FP32_WEIGHT_PRECISIONS, "concept fine-tuning trains fp32 weights; use 32, "
                    "bf16-mixed (the recipe's, on a GPU) or 16-mixed")
    if cfg.model.get("checkpoint") is None and cfg.model.get("seed") is None:
        raise ConfigValueError(f"model={cfg.model.variant} needs SAM 3's weights: pass "
                               "model.checkpoint=/path/to/sam3.pt")
    checkpoint = absolute_path(cfg.model.get("checkpoint"))
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigValueError(f"model.checkpoint={checkpoint}: no such file")
    policy = concept_settings(cfg)[0]
    if (cfg.data.get("cache") or {}).get("enabled") and policy.trunk_needs_grad:
        raise ConfigValueError(
            f"data.cache.enabled=true stores the frozen ViT trunk's maps but concept.policy="
            f"{policy.name} trains the trunk: use data.cache.enabled=false, or "
            "concept.policy=detector")
    check_bpe(cfg)


def check_bpe(cfg) -> None:
    """concept.bpe set, and a file unless it is the concept demo's, which the run writes with
    its data (data.concept_demo); the run's tokenizer reads it (clip_tokenizer's own lines)."""
    bpe = cfg.concept.get("bpe")
    if not bpe:
        raise ConfigValueError("concept.bpe is not set: pass concept.bpe=/path/to/"
                               "bpe_simple_vocab_16e6.txt.gz (CLIP's merges file, which "
                               "sam3.pt does not contain)")
    path = Path(absolute_path(bpe))
    demo_file = (Path(absolute_path(cfg.data.root)) / DEMO_MERGES_FILE
                 if cfg.data.get("concept_demo") and cfg.data.get("root") else None)
    if path != demo_file and not path.is_file():
        problem = "is not a file" if path.exists() else "no such file"
        raise ConfigValueError(f"concept.bpe={bpe}: {problem}: pass the path of CLIP's merges "
                               "file bpe_simple_vocab_16e6.txt.gz (from Meta's sam3 repository, "
                               "assets/)")
