"""Full-size parity of our SAM 3 concept path (ConceptPredictor) against Meta's sam3 package,
random weights.

Builds Meta's image model as build_sam3_image_model does (ViT-1024 x 32 and both necks, the text
encoder 1024 x 24, geometry encoder, fusion encoder, decoder with 200 queries and the presence
token, scoring, segmentation head, and the interactive predictor), draws every float tensor (the
detector's afresh, N(0, 0.02^2), norms around 1; the rest perturbed by N(0, 0.02^2)), writes the
weights in sam3.pt's layout and loads them through load_checkpoint. One image, a text prompt,
exemplar boxes and both: Sam3Processor's scores, boxes and masks against ConceptPredictor's, and
predict_inst on the processor's state against the refined masks (HQ off). The merges file is
synthetic at the full vocabulary's size (its merges spell nothing: the ids are bytes). Needs
`pip install sam3==0.1.4 --no-deps` (plus its small deps) and about 12 GB of memory; minutes on
a CPU.

    python scripts/sam3_concept_full_parity.py [--seed 0]

Measured (CPU, fp32, seed 0, 720 x 540 image, every one of the 200 queries kept): scores within
6.0e-08, boxes within 1.8e-04 pixels, 38 to 53 of the detector's 77,760,000 mask pixels on the
other side of 0.5; refined logits (Meta's boxes through both decoders, holes filled) within
7.5e-06, 24 to 33 pixels flipped (logits within 1e-5 of 0); text, exemplars, and both; 7.5 min.
"""

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

IMAGE_HW = (540, 720)
TEXT = "a striped cat"
EXEMPLARS = [[120.0, 90.0, 410.0, 370.0, 1], [450.0, 60.0, 700.0, 300.0, 0]]  # x0 y0 x1 y1 label


def merges_file(folder: Path, vocab_size: int = 49408) -> Path:
    lines = ["#version: parity"] + [f"q{i} zz" for i in range(vocab_size - 2 * 256 - 2)]
    path = folder / "bpe_simple_vocab_16e6.txt.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return path


def without_cuda_caches():
    """Meta precomputes position / box-bias caches on `cuda` when given a resolution, and pins a
    host tensor in the geometry encoder: the same values on the CPU."""
    from sam3 import model_builder
    from sam3.model.decoder import TransformerDecoder
    from sam3.model.position_encoding import PositionEmbeddingSine

    def no_precompute(*args, **kwargs):
        kwargs["precompute_resolution"] = None
        return PositionEmbeddingSine(*args, **kwargs)

    model_builder.PositionEmbeddingSine = no_precompute
    coords = TransformerDecoder._get_coords
    TransformerDecoder._get_coords = staticmethod(lambda h, w, device: coords(h, w, "cpu"))
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self


@torch.no_grad()
def build_meta(seed: int, bpe: Path):
    from sam3.model_builder import build_sam3_image_model

    torch.manual_seed(seed)
    model = build_sam3_image_model(
        bpe_path=str(bpe), device="cpu", eval_mode=True, load_from_HF=False,
        enable_inst_interactivity=True,
    )
    for name, module in model.named_modules():
        norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm))
        for pname, tensor in module.named_parameters(recurse=False):
            if name.startswith(("backbone.vision_backbone.", "inst_interactive_predictor.")):
                tensor.add_(torch.randn_like(tensor) * 0.02)
            else:
                tensor.normal_(1.0 if norm and pname == "weight" else 0.0, 0.02)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("inst_interactive_predictor.model."):
            inner = key[len("inst_interactive_predictor.model.") :]
            if not inner.startswith("backbone."):
                state["tracker." + inner] = value
        else:
            state["detector." + key] = value
    return model.eval(), state


def diff(a, b) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item() if a.numel() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sam3.model.sam3_image_processor import Sam3Processor

    from samhq_train.inference.concept import ConceptPredictor
    from samhq_train.model import load_checkpoint

    start = time.time()
    without_cuda_caches()
    image = (np.random.default_rng(args.seed).random((*IMAGE_HW, 3)) * 255).astype(np.uint8)
    h, w = IMAGE_HW
    boxes = np.array([e[:4] for e in EXEMPLARS])
    labels = np.array([e[4] for e in EXEMPLARS])
    xyxy = torch.tensor(boxes, dtype=torch.float32) / torch.tensor([w, h, w, h])
    cxcywh = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]), dim=1)
    with tempfile.TemporaryDirectory() as folder:
        bpe = merges_file(Path(folder))
        meta, state = build_meta(args.seed, bpe)
        torch.save(state, Path(folder) / "sam3.pt")
        del state
        ours = load_checkpoint(Path(folder) / "sam3.pt").eval()
        predictor = ConceptPredictor(ours, bpe, threshold=0.0)
    print(f"built and loaded in {time.time() - start:.0f} s")
    processor = Sam3Processor(meta, resolution=1008, device="cpu", confidence_threshold=0.0)
    pixels = torch.from_numpy(image).permute(2, 0, 1)
    predictor.set_image(image)
    print("| prompt | instances | scores | boxes (px) | detector mask pixels differing | "
          "refined mask logits (HQ off), pixels differing |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, text, exemplars in (
        ("text", TEXT, False), ("exemplars", None, True), ("text + exemplars", TEXT, True)
    ):
        with torch.no_grad():
            state = processor.set_image(pixels)
            if text is not None:
                state = processor.set_text_prompt(text, state)
            if exemplars:
                for box, label in zip(cxcywh.tolist(), labels.tolist()):
                    state = processor.add_geometric_prompt(box, bool(label), state)
            clipped = np.clip(state["boxes"].numpy(), 0, [w, h, w, h])
            logits, _, _ = meta.predict_inst(
                state, box=clipped, multimask_output=False, return_logits=True
            )
        found = predictor.predict(
            text,
            exemplar_boxes=boxes if exemplars else None,
            exemplar_labels=labels if exemplars else None,
            refine=False,
        )
        detector = torch.from_numpy(found.detector_masks)
        flips = (detector != (state["masks_logits"][:, 0] > 0.5)).sum().item()
        # the same (Meta's) boxes through our decoder: the decoders compared on equal prompts
        ours_logits, _ = predictor.refine(clipped, use_hq=False, return_logits=True)
        ours_logits, theirs = torch.from_numpy(ours_logits), torch.from_numpy(logits[:, 0])
        differing = ((ours_logits > 0) != (theirs > 0)).flatten(1).sum(1)
        print(
            f"| {name} | {len(found)} | {diff(found.scores, state['scores']):.1e} | "
            f"{diff(found.boxes, state['boxes']):.1e} | {flips} of {detector.numel()} | "
            f"{diff(ours_logits.clamp(-32, 32), theirs.clamp(-32, 32)):.1e}; "
            f"{differing.sum().item()} pixels in {(differing > 0).sum().item()} masks |"
        )
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
