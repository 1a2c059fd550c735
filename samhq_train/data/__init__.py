"""Data: image/mask sources, the sample recipe, transforms, prompt sampling, batches, loaders and
the LightningDataModule.

    datasets    the sources from config entries: paired folders (and build_source)
    coco_instances  data=coco's source, one sample per instance of a COCO json
    coco_annotations  which annotations of a data=coco json are samples, and why not the rest
    sample_keys  who a source's sample is without reading it (SampleKey)
    set_paths   a source's folders and files resolved from data.root and checked
    transforms  the pair transform: image + mask into the model's S x S frame
    transform_builders  its albumentations stages (training jitter, evaluation resizes)
    prompts     box / points / noisy-mask prompts from a mask
    clicks      where a click goes (the largest error's interior); the click protocol's record
    sample      the one sample recipe (empty masks, redraws while the object vanishes)
    prompted    PromptedDataset: recipe + prompts + the random streams
    sets        the training / evaluation sets from config entries; set_name
    batch       samples -> the batch contract (Collate, stack_images)
    loaders     SampleLoader, the resumable TrainLoader
    datamodule  SegmentationDataModule, build_datamodule
    demo        the generated demo set
    concept_*   SAM 3 concept fine-tuning: a COCO detection json checked (concept_coco), its
                image x category queries (concept_sample), Meta's recipe transforms
                (concept_transforms), batches (concept_batch, concept_targets), ConceptDataset

Build the datamodule from the ``data`` config group and the model's image size S::

    from samhq_train.data.datamodule import build_datamodule
    dm = build_datamodule(cfg.data, image_size=model.image_size)

(``build_datamodule`` is the supported entry; the configs carry no ``_target_``. The package does
not import datamodule itself, so that what needs no Lightning starts without importing it, nor
transform_builders, so that what builds no transform starts without albumentations.)
"""

from samhq_train.constants import PIXEL_MEAN
from samhq_train.resizing import resize_longest_side_shape

from .batch import Collate, stack_images
from .clicks import Click, ClickProtocol, next_click
from .coco_instances import CocoInstanceDataset
from .datasets import PairedFolderDataset, build_source
from .demo import ensure_demo_data, make_demo_sample
from .image_files import DataError, EmptyMaskError, read_image, read_mask
from .loaders import SampleLoader, TrainLoader
from .prompted import PromptedDataset
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
from .sample import (
    MAX_TRIES,
    has_object,
    object_area_mask,
    object_mask,
    require_object,
    transformed_sample,
)
from .sample_keys import SampleKey, sample_key
from .sets import set_name

__all__ = [
    "MASK_THRESHOLD",
    "MAX_TRIES",
    "PIXEL_MEAN",
    "PROMPT_TYPES",
    "Click",
    "ClickProtocol",
    "CocoInstanceDataset",
    "Collate",
    "DataError",
    "EmptyMaskError",
    "PairedFolderDataset",
    "PromptConfig",
    "PromptedDataset",
    "Prompts",
    "SampleKey",
    "SampleLoader",
    "TrainLoader",
    "build_source",
    "choose_prompt_types",
    "ensure_demo_data",
    "has_object",
    "make_demo_sample",
    "next_click",
    "noisy_mask",
    "object_area_mask",
    "object_mask",
    "read_image",
    "read_mask",
    "require_object",
    "resize_longest_side_shape",
    "sample_key",
    "sample_points",
    "sample_prompts",
    "set_name",
    "stack_images",
    "tight_box",
    "transformed_sample",
]
