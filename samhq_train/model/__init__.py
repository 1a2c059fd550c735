"""Plain torch.nn SAM-HQ model families with official parameter names; no Lightning, no Hydra."""

from .checkpoints import (
    FORMAT_ALIASES,
    FORMATS,
    SAVE_FORMATS,
    CheckpointError,
    LoadedCheckpoint,
    atomic_write,
    build_sam_hq,
    canonical_format,
    check_base_given,
    detect_format,
    detect_variant,
    file_sha256,
    hq_state_dict,
    load_checkpoint,
    load_checkpoint_with_provenance,
    load_weights_into,
    policy_of,
    read_provenance,
    read_state_dict,
    save_checkpoint,
    without_hq,
)
from .features import ImageFeatures, SamFeatures
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
from .processing import InputProcessing
from .provenance import Provenance
from .registry import (
    ATTENTION_KERNELS,
    FAMILIES,
    VARIANTS,
    Family,
    canonical_variant,
    family_of_model,
    family_of_variant,
    official_file,
    set_attention_kernel,
    variant_config,
)
from .sam1 import SamHQ, SamHQConfig

__all__ = [
    "FORMAT_ALIASES", "FORMATS", "SAVE_FORMATS", "CheckpointError", "atomic_write", "build_sam_hq", "canonical_format",
    "check_base_given", "detect_format", "detect_variant", "file_sha256", "hq_state_dict",
    "load_checkpoint", "load_checkpoint_with_provenance", "LoadedCheckpoint", "load_weights_into", "policy_of", "read_provenance", "read_state_dict", "save_checkpoint", "without_hq",
    "ImageFeatures", "SamFeatures", "LORA_TARGETS", "add_lora", "is_lora_key", "merge_lora", "POLICIES",
    "TrainablePolicy", "as_policy", "parameter_groups", "prepare_model", "scale_group_lrs", "apply_policy", "check_policy_applied", "encoder_needs_grad",
    "trained_modules", "trained_parameter_names", "trained_state_dict", "Provenance", "FAMILIES", "VARIANTS",
    "Family", "canonical_variant", "family_of_model", "family_of_variant", "official_file", "variant_config",
    "InputProcessing", "SamHQ", "SamHQConfig", "ATTENTION_KERNELS", "set_attention_kernel",
]
