"""The text mode's test model: Meta's SAM 3 image model miniature with a detector
(tests/model/sam3/concept/meta_detector.py) written in sam3.pt's layout, its synthetic merges
file, and the reference answers: ConceptPredictor called directly, as the app promises to."""

from pathlib import Path

import numpy as np
import torch

from samhq_train.inference.command_options import hq_choice
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.model import load_checkpoint
from tests.model.sam3.concept.meta_detector import build_meta_image_model, write_merges_file

from .conftest import demo_image

TEXT = "a striped cat"
EXEMPLARS = [
    {"box": [20.0, 30.0, 150.0, 140.0], "label": 1},
    {"box": [180.0, 100.0, 300.0, 230.0], "label": 0},
]


def write_concept_files(folder: Path) -> tuple[Path, Path]:
    """(the sam3.pt-layout checkpoint with the detector, the merges file)."""
    bpe = folder / "bpe.txt.gz"
    write_merges_file(bpe)
    _, state = build_meta_image_model(bpe)
    checkpoint = folder / "sam3.pt"
    torch.save(state, checkpoint)
    return checkpoint, bpe


class Reference:
    """ConceptPredictor on the checkpoint, set to a demo image, HQ as the app decides it."""

    def __init__(self, checkpoint: Path, bpe: Path, image: np.ndarray | None = None) -> None:
        model = load_checkpoint(checkpoint).eval()
        self.use_hq = hq_choice(model)[0]
        self.predictor = ConceptPredictor(model, bpe)
        self.predictor.set_image(demo_image(0) if image is None else image)

    def __call__(self, text, exemplars=(), threshold=0.5):
        boxes = np.array([e["box"] for e in exemplars], np.float64) if exemplars else None
        labels = np.array([e["label"] for e in exemplars]) if exemplars else None
        return self.predictor.predict(
            text, exemplar_boxes=boxes, exemplar_labels=labels, use_hq=self.use_hq,
            threshold=threshold,
        )

    def middle_threshold(self, text, exemplars=()) -> float:
        """Midway between the two middle confidences: half the queries pass, none near the cut."""
        ranked = np.sort(self(text, exemplars, threshold=0.0).scores)
        return float(ranked[len(ranked) // 2 - 1 : len(ranked) // 2 + 1].mean())
