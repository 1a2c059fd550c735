"""ConceptDetector.ground's prompt dtype (audit 13; the miniature's detector, drawn weights):
under bf16 autocast the prompt (bf16 text tokens, exemplar boxes) is fp32, as Meta's (its empty
fp32 visual prompt promotes the concatenation), and it is that promoted prompt the decoder and
the scoring read (the Grounding's)."""

import pytest
import torch

from samhq_train.model.sam3 import VARIANTS
from samhq_train.model.sam3.concept.detector import ConceptDetector
from samhq_train.model.sam3.concept.geometry import ExemplarPrompt
from tests.reference import randomize_

CFG = VARIANTS["sam3_hq_demo"]
PROMPTS, WORDS = 2, 5


@pytest.fixture(scope="module")
def detector() -> ConceptDetector:
    made = ConceptDetector(CFG.concept, vit_dim=CFG.vit.embed_dim,
                           scale_factors=CFG.neck_scale_factors)
    return randomize_(made, seed=3).eval()


def ground(detector, dtype: torch.dtype):
    grid = CFG.vit.img_size // CFG.vit.patch_size
    generator = torch.Generator().manual_seed(0)
    trunk = torch.randn(1, CFG.vit.embed_dim, grid, grid, generator=generator, dtype=dtype)
    image = detector.encode_image(trunk)
    coarse = image.levels[-1].expand(PROMPTS, -1, -1, -1)
    coarse_pos = image.positions[-1].expand(PROMPTS, -1, -1, -1)
    text = torch.randn(PROMPTS, WORDS, CFG.concept.d_model, generator=generator).to(dtype)
    padding = torch.zeros(PROMPTS, WORDS, dtype=torch.bool)
    padding[1, 3:] = True
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.3]], [[0.3, 0.6, 0.1, 0.1]]], dtype=dtype)
    geometry = ExemplarPrompt.of(PROMPTS, boxes=boxes)
    return detector.ground(coarse, coarse_pos, text, padding, geometry)


def test_under_bf16_autocast_the_prompt_is_fp32(detector):
    """Mutants: the promotion left out (a bf16 prompt); the Grounding holding the prompt as
    concatenated (bf16) rather than the promoted one the encoder read."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        grounded = ground(detector, torch.bfloat16)
    assert grounded.prompt.dtype == torch.float32
    assert grounded.prompt.shape[:2] == grounded.padding.shape and grounded.prompt.shape[1] > WORDS

