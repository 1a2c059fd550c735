"""Plain torch.nn SAM-HQ model families with official parameter names; no Lightning, no Hydra."""

from samhq_train.files import atomic_write, file_sha256

from .features import ImageFeatures, SamFeatures
from .formats import (
    FORMAT_ALIASES,
    FORMATS,
    SAVE_FORMATS,
    CheckpointError,
    Inspection,
    LoadedCheckpoint,
    Use,
    build_sam_hq,
    canonical_format,
    check_base_given,
    detect_format,
    detect_variant,
    hq_state_dict,
    inspect,
    load_checkpoint,
    load_checkpoint_with_provenance,
    load_weights_into,
    plain_model,
    policy_of,
    read_provenance,
    read_state_dict,
    save_checkpoint,
    without_hq,
)
from .lora import LORA_TARGETS, add_lora, is_lora_key, merge_lora
from .policy import (
    POLICIES,
    TrainablePolicy,
    apply_policy,
    as_policy,
    check_policy_applied,
    encoder_needs_grad,
    parameter_groups,
    prepare_model,
    scale_group_lrs,
    trained_modules,
    trained_parameter_names,
    trained_state_dict,
)
from .provenance import Provenance
from .registry import (
    FAMILIES,
    VARIANTS,
    Family,
    build_model,
    canonical_variant,
    family_of_model,
    family_of_variant,
    variant_config,
)
from .sam1 import SamHQ, SamHQConfig, build_from_config
from .sam1.flex_attention import KERNELS as ATTENTION_KERNELS
from .sam1.flex_attention import set_attention_kernel

__all__ = [
    "FORMAT_ALIASES", "FORMATS", "SAVE_FORMATS", "CheckpointError", "Inspection", "Use",
    "atomic_write", "build_sam_hq", "canonical_format", "check_base_given", "detect_format",
    "detect_variant", "file_sha256", "hq_state_dict", "inspect", "load_checkpoint",
    "load_checkpoint_with_provenance", "LoadedCheckpoint", "load_weights_into", "plain_model",
    "policy_of", "read_provenance", "read_state_dict", "save_checkpoint", "without_hq",
    "ImageFeatures", "SamFeatures", "LORA_TARGETS", "add_lora", "is_lora_key", "merge_lora", "POLICIES",
    "TrainablePolicy", "as_policy", "parameter_groups", "prepare_model", "scale_group_lrs", "apply_policy", "check_policy_applied", "encoder_needs_grad",
    "trained_modules", "trained_parameter_names", "trained_state_dict", "Provenance", "FAMILIES", "VARIANTS",
    "Family", "build_model", "canonical_variant", "family_of_model", "family_of_variant", "variant_config",
    "SamHQ", "SamHQConfig", "build_from_config", "ATTENTION_KERNELS", "set_attention_kernel",
]
