"""Using the concept detector without Meta's package: it is built on the tensors the model carries
(no copy, state_dict unchanged), refused in one line for a file without it, covers sam3.pt's
layout at full size, runs under bf16 autocast, and checks its prompts."""

import numpy as np
import pytest
import torch

from samhq_train.clip_tokenizer import ClipTokenizer, TokenizerFileError
from samhq_train.errors import UserError
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.predictor import PromptError
from samhq_train.model import load_checkpoint
from samhq_train.model.sam3 import VARIANTS, build
from samhq_train.model.sam3.concept.detector import (
    ConceptDetector,
    NoDetectorError,
    concept_detector,
)
from samhq_train.model.sam3.model import is_carried_key

from .ours_file import write_sam3_with_detector

# Meta's sam3.pt: 1465 keys (docs/hq-sam3.md "HQ-SAM 3"), of which the model computes 719 and the
# trunk's 32 blocks each carry a precomputed RoPE table (attn.freqs_cis) the model recomputes
SAM3_PT_KEYS = 1465
TRUNK_ROPE_TABLES = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_sam3_with_detector(tmp_path_factory.mktemp("sam3_concept"))


@pytest.fixture(scope="module")
def model(files):
    return load_checkpoint(files[0]).eval()


@pytest.fixture(scope="module")
def image():
    return (np.random.RandomState(0).rand(120, 160, 3) * 255).astype(np.uint8)


def test_detector_is_built_on_the_carried_tensors(model, files):
    before = {k: v.data_ptr() for k, v in model.state_dict().items()}
    detector = concept_detector(model)
    carried = dict(model.state_dict(keep_vars=True))
    for key, tensor in detector.state_dict(keep_vars=True).items():
        assert tensor.data_ptr() == carried["detector." + key].data_ptr(), key
    assert {k: v.data_ptr() for k, v in model.state_dict().items()} == before
    saved = torch.load(files[0], map_location="cpu", weights_only=True)
    for key, tensor in model.state_dict().items():
        if key in saved:
            assert torch.equal(tensor, saved[key]), key


def test_a_file_without_the_detector_is_refused_in_one_line(meta_model):
    """The interactive-path fixture (Meta's tracker and vision backbone, no detector heads)."""
    with pytest.raises(NoDetectorError, match="no concept detector") as err:
        concept_detector(meta_model)
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


def test_full_size_detector_and_model_cover_sam3_pt():
    cfg = VARIANTS["sam3_hq"]
    with torch.device("meta"):
        model = build(cfg)
        detector = ConceptDetector(
            cfg.concept, vit_dim=cfg.vit.embed_dim, scale_factors=cfg.neck_scale_factors
        )
    computed = [k for k in model.state_dict() if "sam_mask_decoder.h" not in k]
    computed = [k for k in computed if "embedding_maskfeature" not in k]
    detector_keys = ["detector." + k for k in detector.state_dict()]
    assert not set(computed) & set(detector_keys)
    assert all(is_carried_key(k) for k in detector_keys)
    assert len(computed) + len(detector_keys) + TRUNK_ROPE_TABLES == SAM3_PT_KEYS


def test_bf16_autocast_finds_the_same_instances(model, files, image):
    exact = ConceptPredictor(model, files[1], threshold=0.0)
    exact.set_image(image)
    fast = ConceptPredictor(model, files[1], threshold=0.0, amp_dtype=torch.bfloat16)
    fast.set_image(image)
    a = exact.predict("a cat", use_hq=False)
    b = fast.predict("a cat", use_hq=False)
    assert b.scores.dtype == np.float32 and len(a) == len(b)
    assert np.abs(a.scores - b.scores).max() < 0.02
    assert np.abs(a.boxes - b.boxes).max() < 0.02 * max(image.shape)


def test_prompts_are_checked(model, files, image):
    predictor = ConceptPredictor(model, files[1])
    with pytest.raises(RuntimeError, match="set an image"):
        predictor.predict("a cat")
    predictor.set_image(image)
    with pytest.raises(PromptError, match="empty"):
        predictor.predict("  ")
    with pytest.raises(PromptError, match="text prompt, exemplar boxes"):
        predictor.predict(None)
    with pytest.raises(PromptError, match="outside the image"):
        predictor.predict(None, exemplar_boxes=[10, 10, 500, 50])
    with pytest.raises(PromptError, match="exemplar_labels"):
        predictor.predict(None, exemplar_boxes=[10, 10, 50, 50], exemplar_labels=[2])
    with pytest.raises(PromptError, match="without exemplar_boxes"):
        predictor.predict("a cat", exemplar_labels=[1])
    with pytest.raises(PromptError, match="threshold"):
        ConceptPredictor(model, files[1], threshold=1.0)
    with pytest.raises(TokenizerFileError, match="764 in 32"):
        ConceptPredictor(model, ClipTokenizer(files[1], vocab_size=None, context_length=16))


def test_refined_masks_follow_use_hq(model, files, image):
    """The refined masks are refine()'s for the kept boxes, with or without the HQ token (which
    changes the logits, not the detection); refine=False keeps the detector's own masks."""
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    predictor.set_image(image)
    plain = predictor.predict("a cat", use_hq=False)
    hq = predictor.predict("a cat", use_hq=True)
    raw = predictor.predict("a cat", refine=False)
    np.testing.assert_array_equal(plain.scores, hq.scores)
    np.testing.assert_array_equal(plain.boxes, raw.boxes)
    for answer, use_hq in ((plain, False), (hq, True)):
        logits, scores = predictor.refine(answer.boxes, use_hq=use_hq, return_logits=True)
        np.testing.assert_array_equal(answer.masks, logits > 0)
        np.testing.assert_array_equal(answer.mask_scores, scores)
    plain_logits = predictor.refine(plain.boxes, use_hq=False, return_logits=True)[0]
    hq_logits = predictor.refine(plain.boxes, use_hq=True, return_logits=True)[0]
    assert np.abs(plain_logits - hq_logits).max() > 0.1
    np.testing.assert_array_equal(raw.masks, raw.detector_masks)
    assert raw.mask_scores is None and plain.mask_scores.shape == (len(plain),)


def test_an_hq_only_file_with_its_base_answers_text_prompts(model, files, image, tmp_path):
    """What an HQ run on sam3.pt ships (its HQ parts, or a training checkpoint naming the base):
    loaded with the base, the detector comes from the base and the masks from the trained HQ
    parts, with the HQ token by default (no untrained-HQ note)."""
    from samhq_train.inference.command_options import hq_choice
    from samhq_train.model import save_checkpoint

    trained = load_checkpoint(files[0]).eval()
    with torch.no_grad():
        trained.sam_mask_decoder.hf_token.weight.add_(0.5)
    path = save_checkpoint(trained, tmp_path / "hq.safetensors", "hq_only")
    shipped = load_checkpoint(path, base_checkpoint=files[0]).eval()
    assert hq_choice(shipped) == (True, None)
    answers = []
    for m in (trained, shipped):
        predictor = ConceptPredictor(m, files[1], threshold=0.0)
        predictor.set_image(image)
        answers.append(predictor.predict("a cat", use_hq=True))
    np.testing.assert_array_equal(answers[0].masks, answers[1].masks)
    np.testing.assert_array_equal(answers[0].scores, answers[1].scores)


def test_another_familys_model_is_refused_in_one_line():
    from tests.reference import random_tiny_model

    with pytest.raises(NoDetectorError, match="is a sam1 model; text and exemplar prompts need"):
        concept_detector(random_tiny_model())


def test_the_same_prompt_runs_the_detector_once_per_image(model, files, image):
    """Another threshold or refinement for the same prompt re-selects from the kept detection;
    another prompt or image runs the detector again."""
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    calls = []
    predictor.detector.register_forward_hook(lambda *_: calls.append(1))
    predictor.set_image(image)
    everything = predictor.predict("a cat", refine=False)
    threshold = float(np.median(everything.scores))
    fewer = predictor.predict("a cat", refine=False, threshold=threshold)
    assert len(calls) == 1 and 0 < len(fewer) < len(everything)
    np.testing.assert_array_equal(fewer.scores, everything.scores[everything.scores > threshold])
    predictor.predict("two dogs", refine=False)
    predictor.predict("two dogs", exemplar_boxes=[10, 10, 50, 50], refine=False)
    predictor.set_image(image)
    predictor.predict("two dogs", refine=False)
    assert len(calls) == 4
