"""Memory and time of the concept detector's activation checkpointing (model.grad_checkpointing
in a concept run, ConceptDetector.grad_checkpointing): one training forward + backward of the
full-size detector (Meta's sizes: 6 + 6 layers, 200 queries with DAC's copies, the 24-layer text
encoder, dropout 0.1 or --dropout) on one image's random ViT trunk map of a --grid x --grid tokens
(72 = 1008 px; the trunk map requires grad, as under policy full), --queries queries of
--phrases distinct phrases, off and on.

"held" is what autograd keeps from the forward pass for backward: the bytes of the distinct
storages of the tensors it saves (autograd.graph.saved_tensors_hooks) plus the inputs that each
checkpointed part keeps for its recomputation, parameters left out. It is exact and
device-independent for a given set of kernels, but the CPU's attention with dropout (the math
kernel) saves the attention maps that a GPU's fused kernels do not, so the "off" figures with
dropout are higher here than on a GPU: the --dropout 0 rows are closer to a GPU's. The backward
pass adds one recomputed part's activations at a time on top (not counted). With --device cuda
the peak torch.cuda.max_memory_allocated is printed too. Random weights; times are one step on a
busy CPU, read them as rough. No assertions.

    python scripts/benchmark_concept_recompute.py --grid 32 48 --dropout 0
"""

from __future__ import annotations

import argparse
import time

import torch

from samhq_train.model.sam3 import VARIANTS
from samhq_train.model.sam3.concept import recompute
from samhq_train.model.sam3.concept.detector import ConceptDetector


class HeldBytes:
    """The distinct storages kept for backward (saved tensors, checkpoint inputs), parameters
    excluded."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages: dict[int, int] = {}

    def add(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self.params:
            self.storages[storage.data_ptr()] = storage.nbytes()

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.add(tensor)
        return tensor

    def checkpoint(self, fn, *args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        tensors += [t for a in args if isinstance(a, list | tuple) for t in a
                    if isinstance(t, torch.Tensor)]
        for tensor in tensors:
            self.add(tensor)
        return torch.utils.checkpoint.checkpoint(fn, *args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def step(model: ConceptDetector, grid: int, queries: int, phrases: int, device: str) -> dict:
    """One forward (held bytes counted) and backward; seconds and bytes."""
    gen = torch.Generator().manual_seed(0)
    vit_dim = model.backbone.vision_backbone.convs[0][0].in_channels
    trunk = torch.randn(1, vit_dim, grid, grid, generator=gen).to(device).requires_grad_(True)
    ids = torch.randint(1, 1000, (phrases, 8), generator=gen)
    token_ids = torch.nn.functional.pad(ids, (0, model.context_length - 8))
    token_ids = token_ids[torch.arange(queries) % phrases].to(device)
    image_index = torch.zeros(queries, dtype=torch.long, device=device)
    held = HeldBytes(model)
    plain_checkpoint, recompute.checkpoint = recompute.checkpoint, held.checkpoint
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        with torch.autograd.graph.saved_tensors_hooks(held.pack, lambda tensor: tensor):
            out = model.forward_train(trunk, image_index, token_ids)
    finally:
        recompute.checkpoint = plain_checkpoint
    forward = time.perf_counter() - start
    tensors = [v for k, v in out.items() if k != "aux_outputs"]
    tensors += [v for aux in out["aux_outputs"] for v in aux.values()]
    loss = sum(t.float().mean() for t in tensors)
    start = time.perf_counter()
    loss.backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    result = {"held": held.total, "forward": forward, "backward": time.perf_counter() - start}
    if device.startswith("cuda"):
        result["peak"] = torch.cuda.max_memory_allocated()
    model.zero_grad(set_to_none=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=int, nargs="+", default=[24, 36])
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--phrases", type=int, default=2)
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.1, 0.0])
    parser.add_argument("--variant", default="sam3_hq", help="its detector and ViT sizes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cfg = VARIANTS[args.variant]
    print(f"{args.variant} detector, {args.queries} queries ({args.phrases} phrases), one image, "
          f"fp32, {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| grid (px) | dropout | held off (MB) | held on (MB) | off / on | fwd+bwd off (s) "
          "| fwd+bwd on (s) |" + (" peak off / on (MB) |" if args.device != "cpu" else ""))
    print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.device != "cpu" else ""))
    for dropout in args.dropout:
        concept = cfg.concept.__class__(**{**cfg.concept.__dict__, "dropout": dropout})
        torch.manual_seed(0)
        model = ConceptDetector(concept, vit_dim=cfg.vit.embed_dim,
                                scale_factors=cfg.neck_scale_factors).to(args.device).train()
        for grid in args.grid:
            runs = {}
            for on in (False, True):
                model.grad_checkpointing = on
                runs[on] = step(model, grid, args.queries, args.phrases, args.device)
            off, on = runs[False], runs[True]
            row = (f"| {grid} ({grid * cfg.image_size // cfg.vit.grid}) | {dropout} | "
                   f"{off['held'] / 2**20:,.0f} | {on['held'] / 2**20:,.0f} | "
                   f"{off['held'] / on['held']:.1f}x | {off['forward'] + off['backward']:.1f} | "
                   f"{on['forward'] + on['backward']:.1f} |")
            if "peak" in off:
                row += f" {off['peak'] / 2**20:,.0f} / {on['peak'] / 2**20:,.0f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
