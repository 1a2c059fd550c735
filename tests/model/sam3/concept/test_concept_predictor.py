"""Text and exemplar prompts end to end: ConceptPredictor on a file in sam3.pt's layout equals
Meta's Sam3Processor (its set_image / set_text_prompt / add_geometric_prompt, the post-processing
included) and, for the refined masks, Meta's Sam3Image.predict_inst on the same image state."""

import numpy as np
import pytest
import torch

pytest.importorskip("sam3")

from samhq_train.inference.concept import ConceptPredictor  # noqa: E402
from samhq_train.model import load_checkpoint  # noqa: E402

from .meta_detector import (  # noqa: E402
    build_meta_image_model,
    meta_processor,
    without_pinned_memory,
    write_merges_file,
)

TEXTS = ("a striped cat", "two dogs", "the bright blue sky with white clouds and a boat")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concept")
    bpe = folder / "bpe.txt.gz"
    write_merges_file(bpe)
    meta, state = build_meta_image_model(bpe)
    path = folder / "sam3.pt"
    torch.save(state, path)
    model = load_checkpoint(path).eval()
    image = (np.random.RandomState(3).rand(150, 200, 3) * 255).astype(np.uint8)
    return meta, model, bpe, image


def meta_answer(meta, image, text=None, boxes=(), labels=(), threshold=None):
    """Meta's processor state for the prompt; with no threshold, midway between its two middle
    confidences (half the queries pass, none close to the cut): (processor, state, threshold)."""
    if threshold is None:
        _, everything, _ = meta_answer(meta, image, text, boxes, labels, threshold=0.0)
        ranked = everything["scores"].sort().values
        threshold = float(ranked[len(ranked) // 2 - 1 : len(ranked) // 2 + 1].mean())
    processor = meta_processor(meta, threshold=threshold)
    with torch.no_grad(), without_pinned_memory():
        state = processor.set_image(torch.from_numpy(image).permute(2, 0, 1))
        if text is not None:
            state = processor.set_text_prompt(text, state)
        for box, label in zip(boxes, labels):
            state = processor.add_geometric_prompt(box, bool(label), state)
    return processor, state, threshold


def assert_masks_match(ours: np.ndarray, probs: torch.Tensor) -> None:
    """Bool masks equal Meta's except where its probability is within 1e-5 of the 0.5 cut."""
    theirs = (probs > 0.5).numpy()
    ambiguous = (probs - 0.5).abs().numpy() < 1e-5
    assert ours.shape == theirs.shape
    assert not ((ours != theirs) & ~ambiguous).any()


@pytest.mark.parametrize("text", TEXTS)
def test_text_prompt_equals_meta_processor(setup, text):
    meta, model, bpe, image = setup
    _, state, threshold = meta_answer(meta, image, text)
    predictor = ConceptPredictor(model, bpe, threshold=threshold)
    predictor.set_image(image)
    found = predictor.predict(text, refine=False)
    assert len(found) == 6  # half of the 12 queries
    np.testing.assert_allclose(found.scores, state["scores"].numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(found.boxes, state["boxes"].numpy(), rtol=0, atol=2e-4)
    assert_masks_match(found.detector_masks, state["masks_logits"][:, 0])
    assert found.mask_scores is None


def test_exemplar_boxes_equal_meta_processor(setup):
    meta, model, bpe, image = setup
    boxes_px = np.array([[20.0, 30.0, 90.0, 100.0], [120.0, 10.0, 190.0, 60.0]])
    labels = np.array([1, 0])
    h, w = image.shape[:2]
    xyxy = torch.tensor(boxes_px, dtype=torch.float32) / torch.tensor([w, h, w, h])
    cxcywh = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]), dim=1)
    for text in ("a striped cat", None):
        _, state, threshold = meta_answer(meta, image, text, cxcywh.tolist(), labels.tolist())
        predictor = ConceptPredictor(model, bpe, threshold=threshold)
        predictor.set_image(image)
        found = predictor.predict(
            text, exemplar_boxes=boxes_px, exemplar_labels=labels, refine=False
        )
        assert len(found) > 0
        np.testing.assert_allclose(found.scores, state["scores"].numpy(), rtol=0, atol=2e-6)
        np.testing.assert_allclose(found.boxes, state["boxes"].numpy(), rtol=0, atol=2e-4)


def test_refined_masks_equal_meta_predict_inst(setup):
    """Without the HQ token the refined masks are SAM 3's interactive decoder on each (clipped)
    box: Meta's predict_inst on the Sam3Processor's image state."""
    meta, model, bpe, image = setup
    _, state, threshold = meta_answer(meta, image, TEXTS[0])
    predictor = ConceptPredictor(model, bpe, threshold=threshold)
    predictor.set_image(image)
    found = predictor.predict(TEXTS[0], use_hq=False)
    h, w = image.shape[:2]
    boxes = np.clip(state["boxes"].numpy(), 0, [w, h, w, h])
    with torch.no_grad():
        masks, scores, _ = meta.predict_inst(
            state, box=boxes, multimask_output=False, return_logits=True
        )
    theirs = torch.from_numpy(masks[:, 0])
    assert_masks_match(found.masks, theirs.sigmoid())
    np.testing.assert_allclose(found.mask_scores, scores[:, 0], rtol=0, atol=1e-5)
