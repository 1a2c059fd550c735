"""The record of one model family: every fact about the family that code outside its folder needs.

Each family folder (sam1/, sam2/, ...) builds one `Family` in its family.py (`FAMILY`) and the
registry lists them. Fields after `decoder_prefix` have defaults that mean "this family does not
have it", so a new family states only what it supports.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

# model.attention: the attention kernel of the image encoder (a family may have none but SDPA)
ATTENTION_KERNELS = ("auto", "sdpa", "flex")


@dataclass(frozen=True)
class TransformersCodec:
    """How a family's weights map to a transformers model directory (no transformers import)."""

    key_map: Callable[[list[str]], dict[str, str]]  # official keys -> {official: transformers key}
    config: Callable[[object], dict]  # family config -> config.json
    processor_config: Callable[[object, list[float], list[float]], dict]  # -> processor_config.json
    config_from: Callable[[dict], object]  # config.json -> family config
    positional_key: str  # the transformers name of the prompt encoder's positional matrix
    # where some transformers versions keep the same matrix (read as positional_key)
    prompt_positional_key: str


@dataclass(frozen=True)
class AmgDefaults:
    """What a family's official automatic mask generator does by default."""

    pred_iou_thresh: float = 0.88  # SAM's generator (tuned for ViT-H); SAM 2's is 0.8
    # where min_mask_region_area acts: "full_size" (SAM removes small islands and holes of the
    # final masks, then NMS again) or "low_res" (SAM 2's predictor fills holes and removes specks
    # in the low-res logits before upsampling)
    small_regions_at: str = "full_size"


@dataclass(frozen=True)
class Family:
    name: str
    variants: Mapping[str, object]  # variant name -> the family's config dataclass
    build: Callable[[object], nn.Module]  # config -> model with default-initialised weights
    hq_modules: tuple[str, ...]  # the HQ parts, by official module name
    detect_variant: Callable[[dict], str | None]  # a state dict (full or HQ-only) -> variant
    owns_state: Callable[[dict], bool]  # whether a state dict has this family's key names
    decoder_prefix: str  # SAM's mask decoder (what the hq+decoder policy also trains)
    # image_size -> the input rule (resize, prompt coordinates, mask post-processing,
    # normalisation): a processing.InputProcessing; the model's `processing` is the same class
    processing: Callable[[int], object] | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)  # earlier variant names -> current
    # variant -> the official file that training starts from (named in the "no checkpoint" error)
    official_files: Mapping[str, str] = field(default_factory=dict)
    # state dict -> the object an official full file of this family holds
    official_layout: Callable[[dict], object] = lambda state: state
    # LoRA target globs by part: "attn", "mlp" (image encoder), "decoder" (SAM's decoder)
    lora_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # model -> the ONNX prompt-decoder wrapper (onnx_decoder.OnnxPromptDecoder subclass)
    onnx_decoder: type | None = None
    # model -> the ONNX image-encoder wrapper (onnx_encoder.OnnxImageEncoder subclass)
    onnx_encoder: type | None = None
    transformers_codec: TransformersCodec | None = None  # None: no transformers model exists
    # (image encoder, kernel) -> None, the family's kernel setter; None: SDPA only
    attention: Callable[[nn.Module, str], None] | None = None
    # config -> whether the image encoder it builds has the int8 switch (cpu_int8.int8_encoder),
    # asked of the config so that a command checks --int8 without building the model
    has_int8_encoder: Callable[[object], bool] = lambda cfg: False
    # (model, state dict about to be loaded) -> None: gives the model the file's tensors it keeps
    # without computing them (SAM 3's detector), so they load and save back; None: all computed
    adopt_state: Callable[[nn.Module, dict], None] | None = None
    # config -> its shapes without the HQ design choice: variants with the same base config read
    # each other's files (a Meta SAM 3 file loads into either HQ design); identity by default
    base_config: Callable[[object], object] = lambda cfg: cfg
    amg: AmgDefaults = AmgDefaults()  # "segment everything" defaults (inference/amg)
    # the official image predictor's max_hole_area: background regions of a prompt's low-res
    # mask of at most this many pixels made foreground before upsampling (SAM 3's
    # SAM3InteractiveImagePredictor: 256; SamPredictor and SAM2ImagePredictor: 0, none)
    image_fill_hole_area: int = 0
    has_video_tracker: bool = False  # a memory tracker for videos (video prediction, training)

    def is_hq_key(self, key: str) -> bool:
        """True for state-dict keys of the HQ parts (official names, any prefix)."""
        return any(part in self.hq_modules for part in key.split("."))

    def lora_patterns(self, parts: tuple[str, ...]) -> list[str]:
        """The LoRA globs of these parts of this family ("attn", "mlp", "decoder")."""
        return [pattern for part in parts for pattern in self.lora_targets.get(part, ())]

    def same_base(self, variant: str, other: str) -> bool:
        """Whether two of this family's variants have the same model apart from the HQ design."""
        return self.base_config(self.variants[variant]) == self.base_config(self.variants[other])

    def set_attention_kernel(self, model: nn.Module, kernel: str) -> None:
        """model.attention on a model of this family: its setter takes the kernel; a family
        without kernels runs SDPA, so auto / sdpa leave it be and flex is refused (ValueError)."""
        if kernel not in ATTENTION_KERNELS:
            raise ValueError(
                f"model.attention={kernel}: expected one of {', '.join(ATTENTION_KERNELS)}"
            )
        if self.attention is not None:
            self.attention(model.image_encoder, kernel)
        elif kernel == "flex":
            raise ValueError(
                f"model.attention=flex: expected auto or sdpa: the {self.name} family has no "
                "attention kernels (its encoder always runs SDPA)"
            )


def only_variant(variants: Mapping[str, object], fits: Callable[[object], bool]) -> str | None:
    """The one variant whose config fits what a state dict shows; None when none or several do
    (a family's detect_variant then leaves the choice to the caller)."""
    matches = [name for name, cfg in variants.items() if fits(cfg)]
    return matches[0] if len(matches) == 1 else None


def block_count(state: Mapping[str, object], prefix: str) -> int:
    """How many numbered blocks (`<prefix><i>.…` keys) a state dict has: 1 + the highest index,
    0 when there are none."""
    indexes = (int(k[len(prefix) :].split(".", 1)[0]) for k in state if k.startswith(prefix))
    return 1 + max(indexes, default=-1)
