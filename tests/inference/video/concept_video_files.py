"""SAM 3 files for tracking a concept through a video: Meta's SAM 3 image model miniature
(tests/model/sam3/concept/meta_detector.py: the detector with its text encoder on a synthetic BPE
vocabulary, the vision backbone, and build_meta_mini's tracker, whose memory parts make the
video parts) saved in sam3.pt's layout, with the object-score bias raised so tracked objects
are present; and the same file without the detector, and without the video parts. Imports sam3:
use only where it is installed."""

from dataclasses import dataclass
from pathlib import Path

import torch

from samhq_train.model.sam3.model import VIDEO_PREFIXES
from tests.model.sam3.concept.meta_detector import build_meta_image_model, write_merges_file

SCORE_BIAS = "tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"
DETECTOR_ONLY = ("detector.backbone.vision_backbone.",)  # the vision backbone is not the detector


@dataclass(frozen=True)
class ConceptVideoFiles:
    sam3: Path  # detector and video parts
    no_detector: Path
    no_video_parts: Path
    bpe: Path


def write_concept_video_files(folder: Path, seed: int = 0) -> ConceptVideoFiles:
    bpe = folder / "bpe_simple_vocab_16e6.txt.gz"
    write_merges_file(bpe)
    _, state = build_meta_image_model(bpe, seed=seed)
    assert any(k.startswith(VIDEO_PREFIXES) for k in state), "the miniature lost its video parts"
    state[SCORE_BIAS] = state[SCORE_BIAS] + 4.0  # objects present while tracked
    full = folder / "sam3.pt"
    torch.save(state, full)
    no_detector = folder / "sam3_no_detector.pt"
    torch.save(
        {k: v for k, v in state.items()
         if not k.startswith("detector.") or k.startswith(DETECTOR_ONLY)},
        no_detector,
    )
    no_video = folder / "sam3_no_video_parts.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith(VIDEO_PREFIXES)}, no_video)
    return ConceptVideoFiles(full, no_detector, no_video, bpe)
