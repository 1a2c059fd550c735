"""Checkpoint files: one FormatRecord per format (records.py: detect, read, write, expected keys,
whether it needs a base, what it may be used for) and one inspect(path) that every place taking
a checkpoint asks.

Formats (detected from the file, overridable with format=):
  sam          official SAM weights (no HQ keys: the HQ parts keep their fresh init)
  sam_hq       official SAM-HQ / HQ-SAM 2 weights (SAM 2.1 files: the state dict under "model")
  transformers a transformers SamHQModel directory; the earlier name "hf" is still accepted
  safetensors  our full model, official key names
  hq_only      our HQ-only safetensors (the HQ modules); applied on top of a base model
  delta        what a run trained and its policy; applied on top of a base model
  hq_decoder   SAM-HQ's mask decoder alone (SAM-HQ's train.py epoch_<n>.pth); on top of a base
  lightning    a training checkpoint (*.ckpt): the trained parameters plus what rebuilds the rest
  lightning_full  a training checkpoint of the whole model (concept / video runs): its record
                  says whether its HQ parts are trained (none: written before, taken as trained)

Which keys are HQ is the format rule of the model family (registry.Family.is_hq_key), never the
training policy.
"""

from .base import (
    TORCH_SUFFIXES,
    CheckpointError,
    FormatRecord,
    Read,
    Use,
    detect_variant,
    hq_state_dict,
    without_hq,
    without_lora,
)
from .demo_bases import is_shipped_demo_base
from .errors import describe_read_error
from .inspection import Inspection, inspect, sam3_file_keys, setting_named
from .loading import (
    LoadedCheckpoint,
    OptionHint,
    apply_state,
    build_sam_hq,
    check_base_given,
    detect_format,
    load_checkpoint,
    load_checkpoint_with_provenance,
    load_weights_into,
    other_family_refusal,
    policy_of,
    read_provenance,
    read_state_dict,
    taking_families,
)
from .records import (
    FORMAT_ALIASES,
    FORMATS,
    RECORDS,
    SAVE_FORMATS,
    canonical_format,
    record_of,
)
from .saving import check_writable, expected_state, plain_model, save_checkpoint
from .trained_hq import UntrainedHQ, holds_trained_hq, untrained_hq

__all__ = [
    "TORCH_SUFFIXES",
    "CheckpointError",
    "FormatRecord",
    "Read",
    "Use",
    "detect_variant",
    "hq_state_dict",
    "without_hq",
    "without_lora",
    "describe_read_error",
    "Inspection",
    "inspect",
    "sam3_file_keys",
    "setting_named",
    "LoadedCheckpoint",
    "OptionHint",
    "other_family_refusal",
    "taking_families",
    "UntrainedHQ",
    "apply_state",
    "build_sam_hq",
    "check_base_given",
    "detect_format",
    "is_shipped_demo_base",
    "load_checkpoint",
    "load_checkpoint_with_provenance",
    "load_weights_into",
    "policy_of",
    "read_provenance",
    "read_state_dict",
    "untrained_hq",
    "FORMAT_ALIASES",
    "FORMATS",
    "RECORDS",
    "SAVE_FORMATS",
    "canonical_format",
    "holds_trained_hq",
    "record_of",
    "check_writable",
    "expected_state",
    "plain_model",
    "save_checkpoint",
]
