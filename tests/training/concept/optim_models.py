"""Meta's Sam3Image at the miniature's sizes (tests/model/sam3/concept/meta_detector.py) and our
Sam3HQ loaded from its sam3.pt-layout state, detector attached: the same weights under Meta's
names and ours. Built once per process. Imports sam3: use only where it is installed."""

import functools
import tempfile
from pathlib import Path

import torch

from samhq_train.model import load_checkpoint
from samhq_train.training.concept.trainable import attach_detector
from tests.model.sam3.concept.meta_detector import build_meta_image_model, write_merges_file

META_TRACKER = "inst_interactive_predictor.model."


def ours_name(meta_name: str) -> str:
    """A Sam3Image parameter's name in our Sam3HQ (sam3.pt's layout)."""
    if meta_name.startswith(META_TRACKER):
        return "tracker." + meta_name[len(META_TRACKER):]
    return "detector." + meta_name


@functools.lru_cache(maxsize=1)
def meta_and_state():
    """(Meta's Sam3Image, its sam3.pt-layout state dict)."""
    with tempfile.TemporaryDirectory() as folder:
        bpe = Path(folder) / "bpe.txt.gz"
        write_merges_file(bpe)
        return build_meta_image_model(bpe)


def ours_loaded():
    """A fresh Sam3HQ loaded from Meta's weights (its detector carried)."""
    _, state = meta_and_state()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sam3.pt"
        torch.save(state, path)
        return load_checkpoint(path)


def ours_attached():
    """A fresh Sam3HQ with Meta's weights, detector attached: (model, its ConceptDetector)."""
    model = ours_loaded()
    return model, attach_detector(model)
