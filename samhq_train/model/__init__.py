"""Plain torch.nn SAM-HQ model families with official parameter names; no Lightning, no Hydra."""

from .checkpoints import (
    FORMATS,
    SAVE_FORMATS,
    CheckpointError,
    atomic_write,
    build_sam_hq,
    canonical_format,
    check_base_given,
    detect_format,
    detect_variant,
    file_sha256,
    hq_state_dict,
    is_hq_only_file,
    load_checkpoint,
    load_weights_into,
    read_state_dict,
    save_checkpoint,
    without_hq,
)
from .features import ImageFeatures, SamFeatures
from .policy import (
    POLICIES,
    apply_policy,
    check_policy_applied,
    encoder_needs_grad,
    is_trained,
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

__all__ = [
    "FORMATS", "SAVE_FORMATS", "CheckpointError", "atomic_write", "build_sam_hq", "canonical_format",
    "check_base_given", "detect_format", "detect_variant", "file_sha256", "hq_state_dict", "is_hq_only_file",
    "load_checkpoint", "load_weights_into", "read_state_dict", "save_checkpoint", "without_hq",
    "ImageFeatures", "SamFeatures", "POLICIES", "apply_policy", "check_policy_applied", "encoder_needs_grad",
    "is_trained", "trained_modules", "trained_parameter_names", "trained_state_dict", "Provenance", "FAMILIES", "VARIANTS",
    "Family", "build_model", "canonical_variant", "family_of_model", "family_of_variant", "variant_config",
    "SamHQ", "SamHQConfig", "build_from_config",
]
