"""Meta's video concept model miniature and ours on the same sam3.pt-layout file, and a short
synthetic video (tests/inference/video/conftest.py's moving square and disc)."""

import pytest
import torch

pytest.importorskip("sam3")

from samhq_train.model import load_checkpoint  # noqa: E402
from samhq_train.model.sam3.concept.detector import concept_detector  # noqa: E402
from tests.inference.video.conftest import write_video  # noqa: E402
from tests.inference.video.test_parity_sam3_meta import DecoderAdapter  # noqa: E402
from tests.model.sam3.concept.synthetic_bpe import write_merges_file  # noqa: E402

from .meta_video import build_meta_video_model  # noqa: E402

NUM_FRAMES = 8


def load_ours(path):
    """Our model from the file, its fresh HQ parts drawn (an HQ mask near SAM's)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        ours = load_checkpoint(path).eval()
    state = torch.load(path, map_location="cpu", weights_only=True)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            if name not in state:
                tensor.add_(torch.randn(tensor.shape, generator=gen) * 0.05)
        ours.sam_mask_decoder.hf_mlp.layers[-1].weight.mul_(0.1)
    return ours


@pytest.fixture(scope="module")
def concept_video(tmp_path_factory):
    """(folder, bpe path, sam3.pt path, video folder)."""
    folder = tmp_path_factory.mktemp("concept_video")
    bpe = folder / "bpe.txt.gz"
    write_merges_file(bpe)
    _, state = build_meta_video_model(bpe, {})
    path = folder / "sam3.pt"
    torch.save(state, path)
    video = write_video(folder / "frames", num_frames=NUM_FRAMES)
    return folder, bpe, path, video


def build_pair(concept_video, settings: dict, use_hq: bool, interactive: bool = False):
    """(Meta's model with these settings (interactive: the subclass with clicks), HQ through
    the adapter when use_hq; our model and its detector)."""
    _, bpe, path, _ = concept_video
    meta, _ = build_meta_video_model(bpe, settings, interactive=interactive)
    ours = load_ours(path)
    if use_hq:
        meta.tracker.sam_mask_decoder = DecoderAdapter(ours.sam_mask_decoder)
    return meta, ours, concept_detector(ours)
