"""Mutation audit (round 11) of the exemplar-box prompts (data/concept_exemplars.py, the exemplar
rows of concept_batch.py, the dataset's noise seeding): the jitter against Meta's noise_box
itself on boxes partly outside non-square images (the recipe's BOX_SLACK), the draws of
add_exemplars against Meta's TextQueryToVisual order (hand-drawn), several exemplars per query
in one batch (hand-computed rows), and a dataset item against Meta's item seeded with the
documented per-item strings."""

from __future__ import annotations

import random

import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts, exemplar_prompts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_exemplars import (
    EXEMPLAR_PHRASE,
    ExemplarSettings,
    add_exemplars,
    noise_box,
    noise_seed,
)
from samhq_train.data.concept_sample import ConceptQuery, ConceptSample
from tests.data.concept_helpers import write_concept_set

point_sampling = pytest.importorskip("sam3.train.transforms.point_sampling")


def _cases():
    draw = random.Random(11)
    for case in range(300):
        height, width = draw.randint(20, 90), draw.randint(20, 90)
        if height == width:
            width += 7
        x0, y0 = draw.uniform(-3, width - 4), draw.uniform(-3, height - 4)
        box = torch.tensor([x0, y0, draw.uniform(x0 + 1, width + 3),
                            draw.uniform(y0 + 1, height + 3)], dtype=torch.float32)
        settings = ExemplarSettings(
            probability=1.0, box_noise_std=draw.choice([0.0, 0.05, 0.3, 1.5]),
            box_noise_max=draw.choice([None, 0.0, 2.0, 20.0]),
            min_box_area=draw.choice([0.0, 0.0, 40.0, 400.0]))
        yield case, height, width, box, settings


def test_noise_box_equals_metas_noise_box():
    kept = moved = 0
    for seed, height, width, box, s in _cases():
        torch.manual_seed(seed)
        expected = point_sampling.noise_box(box.clone(), (height, width), s.box_noise_std,
                                            s.box_noise_max, s.min_box_area)
        got = noise_box(box.clone(), height, width, s, torch.Generator().manual_seed(seed))
        assert got.dtype == torch.float32 and torch.equal(got, expected.float()), (seed, s)
        kept, moved = kept + torch.equal(got, box), moved + (not torch.equal(got, box))
    assert kept > 50 and moved > 100  # both branches, many times


def test_a_box_outside_the_image_at_exactly_min_box_area_stays_as_it_was():
    """No jitter (bounded at 0 px): the box clamped to the 40 x 30 image is 36 x 27 = 972 px,
    at min_box_area, so the box is kept unclamped, as Meta's `<=` keeps it."""
    box = torch.tensor([-2.0, 3.0, 36.0, 33.0])
    for area, expected in ((972.0, box), (971.0, torch.tensor([0.0, 3.0, 36.0, 30.0]))):
        settings = ExemplarSettings(probability=1.0, box_noise_std=0.5, box_noise_max=0.0,
                                    min_box_area=area)
        got = noise_box(box.clone(), 30, 40, settings, torch.Generator().manual_seed(0))
        assert torch.equal(got, expected), area


def _sample(queries) -> ConceptSample:
    boxes = torch.tensor([[1.0, 2.0, 11.0, 12.0], [20.0, 5.0, 30.0, 25.0], [3.0, 3.0, 9.0, 9.0]])
    return ConceptSample(
        image=torch.zeros(40, 50, 3, dtype=torch.uint8), boxes=boxes, areas=[100.0, 200.0, 36.0],
        crowd=[False] * 3, segmentations=[None] * 3, queries=queries,
        image_id=1, original_size=(40, 50))


def test_add_exemplars_draws_as_text_query_to_visual():
    """Per query with instances and no box yet: random() then, when <= probability,
    choice(instances) (TextQueryToVisual); a query that has a box or no instance draws
    nothing and stays; the chosen instance's box, exact with std 0."""
    preset = torch.tensor([[5.0, 5.0, 6.0, 6.0]])
    queries = [ConceptQuery("cat", 1, (0, 2)), ConceptQuery("dog", 2, ()),
               ConceptQuery("cow", 3, (1,), exemplar_box=preset), ConceptQuery("owl", 4, (2, 1, 0))]
    settings = ExemplarSettings(probability=0.5, box_noise_std=0.0)
    for seed in range(40):
        got = add_exemplars(_sample(queries), settings, random.Random(seed), torch.Generator())
        draws = random.Random(seed)
        for asked, query in zip(got.queries, queries):
            if query.instances and query.exemplar_box is None and draws.random() <= 0.5:
                row = draws.choice(query.instances)
                assert torch.equal(asked.exemplar_box, _sample(queries).boxes[row].view(1, 4))
                assert asked.phrase == EXEMPLAR_PHRASE
            else:
                assert asked == query and asked.exemplar_box is query.exemplar_box
    kept_text = ExemplarSettings(probability=1.0, keep_text=True)
    text_kept = add_exemplars(_sample(queries[:1]), kept_text, random.Random(0),
                              torch.Generator())
    assert text_kept.queries[0].phrase == "cat" and text_kept.queries[0].exemplar_box is not None


def test_exemplar_rows_of_queries_with_several_boxes():
    two = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    queries = [ConceptQuery("a", 1, (0,), exemplar_box=two), ConceptQuery("b", 2, ()),
               ConceptQuery("c", 3, (1,), exemplar_box=torch.tensor([[0.9, 0.8, 0.7, 0.6]]))]
    boxes, labels, padding = exemplar_prompts(queries)
    expected = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]],
                             [[0.0] * 4, [0.0] * 4],
                             [[0.9, 0.8, 0.7, 0.6], [0.0] * 4]])
    assert torch.equal(boxes, expected)
    assert torch.equal(padding, torch.tensor([[False, False], [True, True], [False, True]]))
    assert torch.equal(labels, torch.tensor([[1, 1], [0, 0], [1, 0]]))
    assert labels.dtype == torch.long and padding.dtype == torch.bool


def test_noise_seeds_differ_per_item_string():
    bases = [f"{seed}:{epoch}:{index}"
             for seed in (0, 1) for epoch in (0, 1) for index in range(25)]
    seeds = [noise_seed(base) for base in bases]
    assert len(set(seeds)) == len(bases) and all(0 <= s < 2**63 for s in seeds)
    assert noise_seed("0:0:0") == noise_seed("0:0:0")


def test_an_epochs_item_is_metas_item_seeded_with_its_strings(tmp_path):
    """Item i of epoch e: Meta's item drawn after random.seed("<seed>:<e>:<i>") and
    torch.manual_seed(noise_seed of that string)."""
    from sam3.train.data.collator import collate_fn_api

    from tests.data.test_concept_vs_meta import (
        MIN_SCALE,
        RESOLUTION,
        assert_same_batch,
        meta_dataset,
    )

    ann, images = write_concept_set(tmp_path)
    settings = ExemplarSettings(probability=1.0, box_noise_std=0.3, box_noise_max=None)
    meta_ds = meta_dataset(ann, images, training=True, masks=False, exemplars=settings)
    ours_ds = ConceptDataset(ann, images, training=True, resolution=RESOLUTION,
                             min_scale=MIN_SCALE, seed=5, exemplars=settings)
    ours_ds.set_epoch(2)
    metas = []
    for index in range(len(ours_ds)):
        draws = f"5:2:{index}"
        random.seed(draws)
        with torch.random.fork_rng():
            torch.manual_seed(noise_seed(draws))
            metas.append(meta_ds[index])
    meta = collate_fn_api(metas, "all", with_seg_masks=False, repeats=1)["all"]
    ours = collate_concepts([ours_ds[i] for i in range(len(ours_ds))])
    assert_same_batch(meta, ours, False)
    assert int((~ours.exemplar_padding).sum()) > 0


def test_the_probability_test_and_a_zero_probability():
    """A draw equal to the probability asks with a box (Meta skips only a draw above it); a
    probability of 0 draws nothing at all from either generator."""
    queries = [ConceptQuery("cat", 1, (0, 2))]
    first = random.Random(3).random()
    got = add_exemplars(_sample(queries), ExemplarSettings(probability=first), random.Random(3),
                        torch.Generator())
    assert got.queries[0].exemplar_box is not None
    rng, noise = random.Random(3), torch.Generator().manual_seed(3)
    state, noise_state = rng.getstate(), noise.get_state()
    got = add_exemplars(_sample(queries), ExemplarSettings(probability=0.0), rng, noise)
    assert got.queries == queries and got.queries[0].exemplar_box is None
    assert rng.getstate() == state and torch.equal(noise.get_state(), noise_state)


@pytest.mark.parametrize("field, value", [("keep_text", 1), ("keep_text", 0),
                                          ("box_noise_max", -1), ("box_noise_max", True),
                                          ("probability", -0.1), ("min_box_area", -1)])
def test_more_settings_are_refused(field, value):
    from samhq_train.settings import SettingError

    with pytest.raises(SettingError, match=f"data.exemplar_{field}="):
        ExemplarSettings(**{field: value})


def test_default_settings_are_the_configs_and_the_recipes_jitter():
    """ExemplarSettings() (a data config without the keys) equals data/coco_concept.yaml's
    exemplar_* and the recipe's RandomizeInputBbox(box_noise_std=0.1, box_noise_max=20)."""
    from pathlib import Path

    import yaml

    import samhq_train

    config = yaml.safe_load(
        (Path(samhq_train.__file__).parent / "conf/data/coco_concept.yaml").read_text())
    defaults = ExemplarSettings()
    assert {f"exemplar_{k}": v for k, v in vars(defaults).items()} == {
        k: v for k, v in config.items() if k.startswith("exemplar_")}
    assert (defaults.box_noise_std, defaults.box_noise_max) == (0.1, 20)
    assert defaults.probability == 0 and defaults.min_box_area == 0 and not defaults.keep_text
