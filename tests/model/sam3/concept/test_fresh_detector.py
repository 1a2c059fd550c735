"""A fresh concept detector on a SAM 3 model loaded without one (family.add_fresh_detector): the
keys and shapes of a file with Meta's detector, seeded, started as Meta's builder starts it, and
usable as a loaded detector is (concept_detector, attach_detector, ConceptPredictor, a full
export that loads back to the same tensors)."""

import numpy as np
import pytest
import torch

from samhq_train.data.demo_concepts import PHRASES, write_demo_merges
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.model import build_sam_hq, load_checkpoint, save_checkpoint
from samhq_train.model.sam3.concept.detector import (
    INTERACTIVE_PREFIXES,
    ConceptDetector,
    concept_detector,
)
from samhq_train.model.sam3.family import add_fresh_detector
from samhq_train.model.sam3.model import is_carried_key
from samhq_train.training.concept.trainable import attach_detector

from .ours_file import VARIANT, write_sam3_with_detector


def fresh(seed: int = 5, model_seed: int = 0):
    model = build_sam_hq(VARIANT, seed=model_seed)
    add_fresh_detector(model, seed)
    return model


def detector_state(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items()
            if k.startswith("detector.") and not k.startswith(INTERACTIVE_PREFIXES)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh_detector")
    with_detector, _ = write_sam3_with_detector(folder)
    image_only, _ = write_sam3_with_detector(folder, with_detector=False)
    return with_detector, image_only


def test_keys_and_shapes_are_those_of_a_file_with_the_detector(files):
    with_detector, image_only = files
    expected = [(k, v.shape) for k, v in load_checkpoint(with_detector).state_dict().items()]
    rng = torch.get_rng_state()
    model = fresh()
    assert torch.equal(torch.get_rng_state(), rng)  # drawn on a forked RNG
    assert [(k, v.shape) for k, v in model.state_dict().items()] == expected
    loaded = load_checkpoint(image_only)
    add_fresh_detector(loaded, 5)
    assert [(k, v.shape) for k, v in loaded.state_dict().items()] == expected
    # carried, as a loaded file's detector: buffers at Meta's paths, no parameters
    params = dict(model.named_parameters())
    added = detector_state(model)
    assert len(added) > 100 and all(is_carried_key(k) and k not in params for k in added)
    # the detector depends on the seed alone, not on the backbone it was added to
    assert all(torch.equal(v, detector_state(loaded)[k]) for k, v in added.items()
               if ".convs." not in k)


def test_the_seed_decides_the_detector():
    first, again, other = (detector_state(fresh(seed)) for seed in (5, 5, 6))
    assert all(torch.equal(first[k], again[k]) for k in first)
    text = "detector.backbone.language_backbone.encoder.token_embedding.weight"
    assert not torch.equal(first[text], other[text])


def test_the_start_is_metas_builder():
    """Meta's TransformerWrapper re-draws the fusion encoder and decoder matrices
    (Xavier-uniform, not the box head / queries / reference points), its decoder zeroes the
    box head's last layer, its neck's two halves start as copies of each other."""
    model_misc = pytest.importorskip("sam3.model.model_misc")
    model = fresh()
    cfg, backbone = model.concept_config, model.image_encoder
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        meta = ConceptDetector(cfg, vit_dim=backbone.trunk.pos_embed.shape[-1],
                               scale_factors=tuple(backbone.scale_factors))
        meta.transformer.decoder.num_queries = cfg.num_queries  # what the wrapper reads
        model_misc.TransformerWrapper(encoder=meta.transformer.encoder,
                                      decoder=meta.transformer.decoder, d_model=cfg.d_model)
    last = meta.transformer.decoder.bbox_embed.layers[-1]
    torch.nn.init.constant_(last.weight.data, 0)
    torch.nn.init.constant_(last.bias.data, 0)
    meta.backbone.vision_backbone.convs.load_state_dict(backbone.sam2_convs.state_dict())
    ours = detector_state(model)
    for key, value in meta.state_dict().items():
        assert torch.equal(ours["detector." + key], value), key
    assert not any(ours[k].abs().sum() for k in ours if ".bbox_embed.layers.2." in k)


def test_it_works_as_a_loaded_detector(tmp_path):
    model = fresh().eval()
    path = save_checkpoint(model, tmp_path / "fresh_full.pt", "sam_hq")
    back = load_checkpoint(path).eval()
    ours, theirs = model.state_dict(), back.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    concept_detector(back)
    with pytest.raises(ValueError, match="already has concept detector tensors"):
        add_fresh_detector(back, 5)
    bpe = tmp_path / "bpe.txt.gz"
    write_demo_merges(bpe)
    predictor = ConceptPredictor(back, bpe, threshold=0.0)
    predictor.set_image((np.random.RandomState(0).rand(64, 80, 3) * 255).astype(np.uint8))
    found = predictor.predict(PHRASES["holes"])
    assert len(found) == model.concept_config.num_queries
    assert np.isfinite(found.scores).all() and found.masks.shape[1:] == (64, 80)
    attach_detector(model)  # the training side: the carried tensors become parameters
    params = dict(model.named_parameters())
    assert all(k in params for k in detector_state(model))
    assert list(model.state_dict()) == list(ours)
    assert all(torch.equal(model.state_dict()[k], ours[k]) for k in ours)
