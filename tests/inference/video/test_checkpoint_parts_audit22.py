"""Mutation audit 22 of inference/video/checkpoint_parts.tracking_refusal: a SAM 2.1 file tracks
with prompts (only text prompts need SAM 3), and a SAM 1 file is refused either way; the --base
of an HQ-only file is named as --base; a file that cannot be inspected is the loader's."""

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference.video.checkpoint_parts import checkpoint_info, tracking_refusal
from samhq_train.model import inspect, load_checkpoint, save_checkpoint


def test_a_sam2_file_is_refused_only_for_text_prompts():
    info = inspect(DEMO_BASE_DIR / "sam2.1_hq_hiera_demo_base.pt")
    assert tracking_refusal(info, text=False) is None
    assert "is a sam2 model; text and exemplar prompts need" in tracking_refusal(info, text=True)


def test_a_sam1_file_is_refused_with_or_without_text():
    info = inspect(DEMO_BASE_DIR / "vit_demo_base.safetensors")
    for text in (False, True):
        assert "is a sam1 model: video tracking needs" in tracking_refusal(info, text=text)


def test_the_base_of_an_hq_only_file_is_named_as_base(tmp_path):
    demo_base = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"  # no video parts
    hq_only = save_checkpoint(load_checkpoint(demo_base), tmp_path / "hq.safetensors", "hq_only")
    line = tracking_refusal(inspect(hq_only), demo_base, text=False)
    assert line.startswith(f"--base {demo_base} has no video parts"), line


def test_a_file_that_cannot_be_inspected_is_left_to_the_loader(tmp_path):
    broken = tmp_path / "model.pt"
    broken.write_bytes(b"not a checkpoint")
    assert checkpoint_info(broken) is None
