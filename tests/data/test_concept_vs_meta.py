"""Concept data parity: Meta's Sam3ImageDataset (sam3 0.1.4) with the fine-tuning recipe's
loader and transforms, batched by collate_fn_api, against ConceptDataset + collate_concepts on a
small synthetic COCO set, with the same random draws (Meta draws from the module `random`,
seeded per item; ours from a random.Random with the same seed): the same pixels (fp32, exact),
queries, phrases, boxes, masks, flags and (empty here) input boxes (exact). Exemplar-box
prompts: test_concept_exemplars.py, on this harness."""

from __future__ import annotations

import functools
import random

import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from tests.data.concept_helpers import edit_json, write_concept_set

pytest.importorskip("sam3.train.data.sam3_image_dataset")
from sam3.train.data.coco_json_loaders import COCO_FROM_JSON  # noqa: E402
from sam3.train.data.collator import collate_fn_api  # noqa: E402
from sam3.train.data.sam3_image_dataset import Sam3ImageDataset  # noqa: E402
from sam3.train.transforms import basic, point_sampling, segmentation  # noqa: E402
from sam3.train.transforms import basic_for_api as api  # noqa: E402
from sam3.train.transforms import filter_query_transforms as fq  # noqa: E402

RESOLUTION, MIN_SCALE = 128, 48  # scales 64, 96, 128
NORM = [0.5, 0.5, 0.5]


def _flex(query_filter):
    return fq.FlexibleFilterFindGetQueries(query_filter=query_filter)


class CopyInputBoxes:
    """Between TextQueryToVisual and RandomizeInputBbox: TextQueryToVisual hands a query its
    instance's own 1-D box tensor, which RandomizeInputBbox cannot index (it writes N x 4 rows in
    place, IndexError) and would move the target with; a copy as N x 4, values unchanged."""

    def __call__(self, datapoint, **kwargs):
        for query in datapoint.find_queries:
            if query.input_bbox is not None:
                query.input_bbox = query.input_bbox.clone().view(-1, 4)
        return datapoint


def meta_train_transforms(max_instances: int, exemplars=None) -> list:
    """The recipe's train_transforms at RESOLUTION; with `exemplars` (our ExemplarSettings),
    TextQueryToVisual right before the recipe's RandomizeInputBbox, which takes its settings."""
    noise = dict(box_noise_std=0.1, box_noise_max=20)
    to_visual = []
    if exemplars is not None:
        noise = dict(box_noise_std=exemplars.box_noise_std, box_noise_max=exemplars.box_noise_max,
                     minimum_box_area=exemplars.min_box_area)
        to_visual = [fq.TextQueryToVisual(exemplars.probability, exemplars.keep_text),
                     CopyInputBoxes()]
    return [
        api.ComposeAPI(transforms=[
            _flex(fq.FilterCrowds()),
            *to_visual,
            point_sampling.RandomizeInputBbox(**noise),
            segmentation.DecodeRle(),
            api.RandomResizeAPI(
                sizes=basic.get_random_resize_scales(RESOLUTION, min_size=MIN_SCALE,
                                                     rounded=False),
                max_size=basic.get_random_resize_max_size(RESOLUTION), square=True,
                consistent_transform=False,
            ),
            api.PadToSizeAPI(size=RESOLUTION, consistent_transform=False),
            api.ToTensorAPI(),
            _flex(fq.FilterEmptyTargets()),
            api.NormalizeAPI(mean=NORM, std=NORM),
            _flex(fq.FilterEmptyTargets()),
        ]),
        _flex(fq.FilterFindQueriesWithTooManyOut(max_num_objects=max_instances)),
    ]


def meta_val_transforms() -> list:
    return [api.ComposeAPI(transforms=[
        api.RandomResizeAPI(sizes=RESOLUTION, max_size=basic.get_random_resize_max_size(
            RESOLUTION), square=True, consistent_transform=False),
        api.ToTensorAPI(),
        api.NormalizeAPI(mean=NORM, std=NORM),
    ])]


def meta_dataset(ann, images, *, training, masks, include_negatives=True, chunk=None,
                 max_instances=200, exemplars=None) -> Sam3ImageDataset:
    loader = functools.partial(COCO_FROM_JSON, include_negatives=include_negatives,
                               category_chunk_size=chunk)
    transforms = (meta_train_transforms(max_instances, exemplars) if training
                  else meta_val_transforms())
    return Sam3ImageDataset(
        img_folder=str(images), ann_file=str(ann), transforms=transforms,
        max_ann_per_img=500000, multiplier=1, training=training, load_segmentation=masks,
        max_train_queries=50000, max_val_queries=50000, use_caching=False,
        coco_json_loader=loader,
    )


def assert_same_batch(meta, ours, masks: bool) -> None:
    target = meta.find_targets[0]
    assert torch.equal(ours.images, meta.img_batch)
    assert ours.texts == tuple(meta.find_text_batch)
    assert torch.equal(ours.text_index, meta.find_inputs[0].text_ids)
    assert torch.equal(ours.image_index, meta.find_inputs[0].img_ids)
    assert ours.phrases == tuple(meta.find_text_batch[i] for i in meta.find_inputs[0].text_ids)
    assert torch.equal(ours.category_ids, meta.find_metadatas[0].original_category_id)
    sizes = meta.find_metadatas[0].original_size
    assert torch.equal(ours.original_sizes[ours.image_index], sizes)
    got = ours.targets
    assert torch.equal(got.num_boxes, target.num_boxes)
    assert torch.equal(got.boxes, target.boxes.view(-1, 4))
    assert torch.equal(got.boxes_padded, target.boxes_padded)
    assert torch.equal(got.is_exhaustive, target.is_exhaustive)
    assert torch.equal(got.object_ids, target.object_ids)
    stage = meta.find_inputs[0]  # input boxes and labels sequence-first, the mask batch-first
    assert torch.equal(ours.exemplar_boxes, stage.input_boxes.transpose(0, 1))
    assert torch.equal(ours.exemplar_labels, stage.input_boxes_label.transpose(0, 1))
    assert torch.equal(ours.exemplar_padding, stage.input_boxes_mask)
    if masks:
        assert got.masks.dtype == torch.bool
        assert torch.equal(got.masks, target.segments)
        assert torch.equal(got.is_valid_mask, target.is_valid_segment)
    else:
        assert got.masks is None and got.is_valid_mask is None and target.segments is None


def _pair(meta_ds, ours_ds, meta_index, ours_index, seed):
    """Meta's item drawing from the module random and torch's global generator, seeded; ours
    from its own generators, seeded alike."""
    random.seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        meta = meta_ds[meta_index]
    noise = torch.Generator().manual_seed(seed)
    return meta, ours_ds.sample(ours_index, random.Random(seed), noise)


@pytest.mark.parametrize("masks", [True, False])
def test_training_batch_equals_meta(tmp_path, masks, capsys):
    ann, images = write_concept_set(tmp_path)
    meta_ds = meta_dataset(ann, images, training=True, masks=masks)
    ours_ds = ConceptDataset(ann, images, training=True, resolution=RESOLUTION,
                             min_scale=MIN_SCALE, with_masks=masks)
    assert len(ours_ds) == len(meta_ds) == 5
    pairs = [_pair(meta_ds, ours_ds, i, i, seed=1000 + i) for i in range(5)]
    meta = collate_fn_api([m for m, _ in pairs], "all", with_seg_masks=masks, repeats=1)["all"]
    ours = collate_concepts([o for _, o in pairs])
    assert_same_batch(meta, ours, masks)
    got = ours.targets
    assert len(ours.phrases) == 15 and int(got.num_boxes.sum()) == 11  # 13 less crowd, zero width
    if masks:
        valid = got.is_valid_mask  # one instance without segmentation: a zero mask
        assert int(valid.sum()) == 10 and not got.masks[~valid].any()
        assert got.masks[valid].flatten(1).any(1).all()  # the empty polygon became its box


def test_validation_batch_equals_meta(tmp_path, capsys):
    """Validation: two categories a datapoint, a 128 x 128 stretch, crowds kept."""
    ann, images = write_concept_set(tmp_path)
    meta_ds = meta_dataset(ann, images, training=False, masks=False, chunk=2)
    ours_ds = ConceptDataset(ann, images, training=False, resolution=RESOLUTION,
                             categories_per_datapoint=2)
    assert len(ours_ds) == len(meta_ds) == 10
    pairs = [_pair(meta_ds, ours_ds, i, i, seed=i) for i in range(10)]
    meta = collate_fn_api([m for m, _ in pairs], "all", repeats=1)["all"]
    ours = collate_concepts([o for _, o in pairs])
    assert_same_batch(meta, ours, masks=False)
    assert int(ours.targets.num_boxes.sum()) == 13  # every annotation, the crowd too


def test_positives_only_and_too_many_instances_equal_meta(tmp_path, capsys):
    """Without negatives and with at most 1 instance a query: image 3's queries all go, so
    both serve the next datapoint with the draws going on (Meta skips image 4, which has no
    query; ours never lists it)."""
    ann, images = write_concept_set(tmp_path)
    edit_json(ann, lambda d: d["annotations"].append(
        {"id": 99, "image_id": 3, "category_id": 3, "bbox": [20, 10, 5, 5], "iscrowd": 0,
         "segmentation": [[20, 10, 25, 10, 25, 15, 20, 15]]}))
    meta_ds = meta_dataset(ann, images, training=True, masks=True, include_negatives=False,
                           max_instances=1)
    ours_ds = ConceptDataset(ann, images, training=True, resolution=RESOLUTION,
                             min_scale=MIN_SCALE, with_masks=True, include_negatives=False,
                             max_instances=1)
    assert [image for image, _ in ours_ds.datapoints] == [0, 1, 2, 4]
    pairs = [_pair(meta_ds, ours_ds, m, o, seed=7 + o) for m, o in [(0, 0), (1, 1), (2, 2)]]
    assert pairs[2][1].image_id == 5  # image 3 gave way, image 4 has no query
    meta = collate_fn_api([m for m, _ in pairs], "all", with_seg_masks=True, repeats=1)["all"]
    ours = collate_concepts([o for _, o in pairs])
    assert_same_batch(meta, ours, masks=True)
    # image 1's two red squares (the crowd one gone) dropped; image 2's zero-width bar too
    assert ours.category_ids.tolist() == [2, 1, 2, 3, 1, 2]


def test_num_images_keeps_metas_limit_ids(tmp_path, capsys):
    """The recipe trains on 100 images: Meta's limit_ids shuffle by random.Random(count)."""
    ann, images = write_concept_set(tmp_path)
    meta_ds = meta_dataset(ann, images, training=False, masks=False, chunk=2)
    meta_ds.limit_ids = 4
    meta_ds.coco = None
    meta_ds.set_sharded_annotation_file(0)
    ours_ds = ConceptDataset(ann, images, training=False, resolution=RESOLUTION,
                             categories_per_datapoint=2, num_images=4)
    chunks = [(1, 2), (3,)]
    ours = [image * 2 + chunks.index(cats) for image, cats in ours_ds.datapoints]
    assert ours == meta_ds.ids.tolist() and sorted(ours) != ours
