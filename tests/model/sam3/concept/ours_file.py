"""A SAM 3 file with the concept detector built from our own modules (no Meta package needed):
the sam3_hq_demo miniature and a ConceptDetector of its sizes, every tensor drawn, saved in
sam3.pt's flat layout; and the synthetic merges file its text encoder's vocabulary fits."""

from pathlib import Path

import torch

from samhq_train.model.sam3 import VARIANTS, build
from samhq_train.model.sam3.concept.detector import ConceptDetector
from tests.reference import randomize_

from .synthetic_bpe import write_merges_file

VARIANT = "sam3_hq_demo"
HQ_KEYS = ("hf_token", "hf_mlp", "embedding_maskfeature")


def write_sam3_with_detector(
    folder: Path, seed: int = 0, with_detector: bool = True
) -> tuple[Path, Path]:
    """(sam3.pt in Meta's layout with the detector (or, with_detector=False, the interactive
    path and tracker only), its merges file)."""
    cfg = VARIANTS[VARIANT]
    model = randomize_(build(cfg), seed=seed)
    detector = ConceptDetector(
        cfg.concept, vit_dim=cfg.vit.embed_dim, scale_factors=cfg.neck_scale_factors
    )
    randomize_(detector, seed=seed + 1)
    state = {k: v for k, v in model.state_dict().items() if not any(h in k for h in HQ_KEYS)}
    if with_detector:
        state.update({"detector." + k: v for k, v in detector.state_dict().items()})
    path = folder / ("sam3.pt" if with_detector else "sam3_interactive.pt")
    torch.save(state, path)
    merges = folder / "bpe_simple_vocab_16e6.txt.gz"
    assert write_merges_file(merges) == cfg.concept.vocab_size
    return path, merges
