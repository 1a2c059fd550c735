"""The transformers `SamHQModel` layout: key renames by rule and the config.json it expects.

No transformers import: the mapping is applied to our own (official) names, and the reverse map
is the inverse of the forward one over the model's keys.
"""

import re

from ..family_record import TransformersCodec
from .config import SamHQConfig

TRANSFORMERS_POSITIONAL_KEY = "shared_image_embedding.positional_embedding"
TRANSFORMERS_PROMPT_POSITIONAL_KEY = "prompt_encoder.shared_embedding.positional_embedding"
OFFICIAL_POSITIONAL_KEY = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"

_INDEXED_RENAMES = {  # sequential-module prefix -> {index: new name}
    "image_encoder.neck": {0: "conv1", 1: "layer_norm1", 2: "conv2", 3: "layer_norm2"},
    "prompt_encoder.mask_downscaling": {
        0: "conv1",
        1: "layer_norm1",
        3: "conv2",
        4: "layer_norm2",
        6: "conv3",
    },
    "mask_decoder.output_upscaling": {
        0: "upscale_conv1",
        1: "upscale_layer_norm",
        3: "upscale_conv2",
    },
    "mask_decoder.compress_vit_feat": {
        0: "compress_vit_conv1",
        1: "compress_vit_norm",
        3: "compress_vit_conv2",
    },
    "mask_decoder.embedding_encoder": {0: "encoder_conv1", 1: "encoder_norm", 3: "encoder_conv2"},
    "mask_decoder.embedding_maskfeature": {0: "mask_conv1", 1: "mask_norm", 3: "mask_conv2"},
}
_SEQUENTIAL_PARENT = {  # where the renamed entries live in transformers
    "image_encoder.neck": "image_encoder.neck.",
    "prompt_encoder.mask_downscaling": "prompt_encoder.mask_embed.",
}
_MLP_PATTERN = re.compile(
    r"^mask_decoder\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|hf_mlp)\.layers\.(\d+)\."
)
_PLAIN_RENAMES = [
    (r"^image_encoder\.blocks\.", "image_encoder.layers."),
    (r"^image_encoder\.patch_embed\.proj\.", "image_encoder.patch_embed.projection."),
    (r"^image_encoder\.layers\.(\d+)\.norm(\d)\.", r"image_encoder.layers.\1.layer_norm\2."),
    (r"^image_encoder\.", "vision_encoder."),
    (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
    (
        r"^mask_decoder\.transformer\.layers\.(\d+)\.norm(\d)\.",
        r"mask_decoder.transformer.layers.\1.layer_norm\2.",
    ),
    (
        r"^mask_decoder\.transformer\.norm_final_attn\.",
        "mask_decoder.transformer.layer_norm_final_attn.",
    ),
    (r"^mask_decoder\.hf_token\.", "mask_decoder.hq_token."),
    (r"^mask_decoder\.hf_mlp\.", "mask_decoder.hq_mask_mlp."),
]


def official_to_transformers_key(key: str, mlp_depth: dict[str, int] | None = None) -> str:
    """Rename one official SAM-HQ key to its transformers name.

    mlp_depth maps an MLP prefix (e.g. "mask_decoder.iou_prediction_head") to its layer count;
    decoder MLPs are 3 deep unless told otherwise.
    """
    if key == OFFICIAL_POSITIONAL_KEY:
        return TRANSFORMERS_POSITIONAL_KEY
    for prefix, names in _INDEXED_RENAMES.items():
        match = re.match(rf"^{re.escape(prefix)}\.(\d+)\.(.*)$", key)
        if match:
            parent = _SEQUENTIAL_PARENT.get(prefix, "mask_decoder.")
            key = f"{parent}{names[int(match.group(1))]}.{match.group(2)}"
            break
    match = _MLP_PATTERN.match(key)
    if match:
        depth = (mlp_depth or {}).get(f"mask_decoder.{match.group(1)}", 3)
        index = int(match.group(2))
        name = (
            "proj_in" if index == 0 else "proj_out" if index == depth - 1 else f"layers.{index - 1}"
        )
        key = f"mask_decoder.{match.group(1)}.{name}." + key[match.end() :]
    for pattern, replacement in _PLAIN_RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def transformers_key_map(official_keys: list[str]) -> dict[str, str]:
    """official key -> transformers key for every key of a model."""
    depth: dict[str, int] = {}
    for key in official_keys:
        match = _MLP_PATTERN.match(key)
        if match:
            prefix = f"mask_decoder.{match.group(1)}"
            depth[prefix] = max(depth.get(prefix, 0), int(match.group(2)) + 1)
    return {key: official_to_transformers_key(key, depth) for key in official_keys}


def transformers_config(cfg: SamHQConfig) -> dict:
    """config.json for transformers' SamHQModel, matching the official model's numerics."""
    return {
        "architectures": ["SamHQModel"],
        "model_type": "sam_hq",
        "dtype": "float32",
        "tie_word_embeddings": True,
        "vision_config": {
            "model_type": "sam_hq_vision_model",
            "hidden_size": cfg.encoder_embed_dim,
            "num_hidden_layers": cfg.encoder_depth,
            "num_attention_heads": cfg.encoder_num_heads,
            "global_attn_indexes": list(cfg.encoder_global_attn_indexes),
            "image_size": cfg.image_size,
            "patch_size": cfg.patch_size,
            "window_size": cfg.window_size,
            "output_channels": cfg.prompt_embed_dim,
            "num_pos_feats": cfg.prompt_embed_dim // 2,
            "mlp_ratio": 4.0,
            "mlp_dim": cfg.encoder_embed_dim * 4,
            "layer_norm_eps": 1e-6,
            "qkv_bias": True,
            "use_abs_pos": True,
            "use_rel_pos": True,
        },
        "prompt_encoder_config": {
            "model_type": "sam_hq_prompt_encoder",
            "hidden_size": cfg.prompt_embed_dim,
            "image_size": cfg.image_size,
            "patch_size": cfg.patch_size,
            "mask_input_channels": cfg.mask_in_chans,
            "num_point_embeddings": 4,
            "layer_norm_eps": 1e-6,
        },
        "mask_decoder_config": {
            "model_type": "sam_hq_mask_decoder",
            "hidden_size": cfg.prompt_embed_dim,
            "mlp_dim": cfg.decoder_mlp_dim,
            "num_hidden_layers": cfg.decoder_depth,
            "num_attention_heads": cfg.decoder_num_heads,
            "attention_downsample_rate": 2,
            "num_multimask_outputs": 3,
            "iou_head_depth": 3,
            "iou_head_hidden_dim": cfg.iou_head_hidden_dim,
            # the official two-way transformer uses nn.LayerNorm's 1e-5 (transformers: 1e-6)
            "layer_norm_eps": 1e-5,
            "vit_dim": cfg.encoder_embed_dim,
        },
    }


def transformers_processor_config(
    cfg: SamHQConfig, pixel_mean: list[float], pixel_std: list[float]
) -> dict:
    """The processor's class and its image processor's settings (written as processor_config.json
    and preprocessor_config.json), so that SamHQProcessor.from_pretrained(directory) works offline with
    SAM's pre-processing at this input size (long side S, PIL bilinear, zero padding after
    normalisation with the model's mean and std)."""
    size, mask_size = cfg.image_size, cfg.image_size // 4
    return {
        "processor_class": "SamHQProcessor",
        "image_processor": {
            "image_processor_type": "SamImageProcessor",
            "do_convert_rgb": True,
            "do_resize": True,
            "size": {"longest_edge": size},
            "resample": 2,  # PIL bilinear, as SAM's ResizeLongestSide
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [m / 255 for m in pixel_mean],
            "image_std": [s / 255 for s in pixel_std],
            "do_pad": True,
            "pad_size": {"height": size, "width": size},
            "mask_size": {"longest_edge": mask_size},
            "mask_pad_size": {"height": mask_size, "width": mask_size},
        },
    }


def config_from_transformers(config: dict) -> SamHQConfig:
    vision, prompt, decoder = (
        config.get("vision_config", {}),
        config.get("prompt_encoder_config", {}),
        config.get("mask_decoder_config", {}),
    )
    return SamHQConfig(
        encoder_embed_dim=vision.get("hidden_size", 768),
        encoder_depth=vision.get("num_hidden_layers", 12),
        encoder_num_heads=vision.get("num_attention_heads", 12),
        encoder_global_attn_indexes=tuple(vision.get("global_attn_indexes", (2, 5, 8, 11))),
        image_size=vision.get("image_size", 1024),
        patch_size=vision.get("patch_size", 16),
        window_size=vision.get("window_size", 14),
        prompt_embed_dim=prompt.get("hidden_size", 256),
        mask_in_chans=prompt.get("mask_input_channels", 16),
        decoder_depth=decoder.get("num_hidden_layers", 2),
        decoder_num_heads=decoder.get("num_attention_heads", 8),
        decoder_mlp_dim=decoder.get("mlp_dim", 2048),
        iou_head_hidden_dim=decoder.get("iou_head_hidden_dim", 256),
    )


CODEC = TransformersCodec(
    key_map=transformers_key_map,
    config=transformers_config,
    processor_config=transformers_processor_config,
    config_from=config_from_transformers,
    positional_key=TRANSFORMERS_POSITIONAL_KEY,
    prompt_positional_key=TRANSFORMERS_PROMPT_POSITIONAL_KEY,
)

