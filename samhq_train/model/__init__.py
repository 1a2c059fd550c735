"""Plain torch.nn SAM-HQ with official parameter names; no Lightning, no Hydra."""

from .checkpoints import (
    FORMATS,
    SAVE_FORMATS,
    CheckpointError,
    atomic_write,
    detect_format,
    detect_variant,
    file_sha256,
    is_hq_only_file,
    load_checkpoint,
    load_weights_into,
    read_state_dict,
    save_checkpoint,
)
from .registry import VARIANTS, SamHQConfig, build_from_config, build_sam_hq, variant_config
from .sam_hq import SamHQ
from .trainable import (
    HQ_MODULES,
    assert_only_hq_trainable,
    hq_parameter_names,
    hq_state_dict,
    is_hq_parameter,
    mark_only_hq_as_trainable,
)

__all__ = [
    "FORMATS", "SAVE_FORMATS", "atomic_write", "CheckpointError", "detect_format", "detect_variant", "load_checkpoint",
    "load_weights_into", "file_sha256", "is_hq_only_file", "read_state_dict", "save_checkpoint", "VARIANTS", "SamHQConfig",
    "build_from_config", "build_sam_hq", "variant_config", "SamHQ", "HQ_MODULES",
    "assert_only_hq_trainable", "hq_parameter_names", "hq_state_dict", "is_hq_parameter",
    "mark_only_hq_as_trainable",
]
