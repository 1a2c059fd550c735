"""Data: image/mask sources, transforms, prompt sampling and the LightningDataModule.

Build the datamodule from the ``data`` config group and the model's image size S::

    from samhq_train.data import build_datamodule
    dm = build_datamodule(cfg.data, image_size=model.image_size)

(``build_datamodule`` is the supported entry; the configs carry no ``_target_``.)
"""

from .datamodule import (
    Collate,
    PromptedDataset,
    SampleLoader,
    SegmentationDataModule,
    build_datamodule,
)
from .datasets import (
    CocoInstanceDataset,
    DataError,
    EmptyMaskError,
    PairedFolderDataset,
    build_source,
    read_image,
    read_mask,
)
from .demo import ensure_demo_data, make_demo_sample
from .prompts import (
    MASK_THRESHOLD,
    PROMPT_TYPES,
    PromptConfig,
    Prompts,
    choose_prompt_types,
    noisy_mask,
    sample_points,
    sample_prompts,
    tight_box,
)
from .transforms import (
    PIXEL_MEAN,
    build_eval_transform,
    build_train_transform,
    resize_longest_side_shape,
)

__all__ = [
    "MASK_THRESHOLD",
    "PIXEL_MEAN",
    "PROMPT_TYPES",
    "CocoInstanceDataset",
    "Collate",
    "DataError",
    "EmptyMaskError",
    "PairedFolderDataset",
    "PromptConfig",
    "PromptedDataset",
    "Prompts",
    "SampleLoader",
    "SegmentationDataModule",
    "build_datamodule",
    "build_eval_transform",
    "build_source",
    "build_train_transform",
    "choose_prompt_types",
    "ensure_demo_data",
    "make_demo_sample",
    "noisy_mask",
    "read_image",
    "read_mask",
    "resize_longest_side_shape",
    "sample_points",
    "sample_prompts",
    "tight_box",
]
