"""Step time and peak memory of one training step per trainable policy, with and without gradient
checkpointing of the encoder blocks (random weights, batch of B images, one box prompt each; the
step from the features on is scripts/benchmark.py's hq_decoder_step with the policy's parameters).

    python scripts/benchmark_policies.py --variants vit_demo vit_tiny vit_b --batch 2

Each measurement runs in a fresh process so that its peak memory is its own: CPU peak RSS
(resource.getrusage) and, on CUDA, torch.cuda.max_memory_allocated. On any device, "saved MB" is
what autograd keeps for backward during the step (a first, untimed step: the distinct storages of
the tensors saved for backward, parameters left out; what a checkpointed block keeps is its input
alone), the part of the peak that gradient checkpointing cuts, free of the process's fixed
footprint that peak RSS includes. Step times are the fastest of --steps, in wall seconds and in CPU
seconds of the process (all threads: on shared cores the CPU time is the steadier figure). Prints
a Markdown table.
"""

import argparse
import json
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path

import torch

from samhq_train.model import POLICIES, build_sam_hq, encoder_needs_grad

# scripts/benchmark.py, the step's one home, loaded by its path: a bare `import benchmark` can find
# onnxruntime's module of that name
_STEP_CODE = runpy.run_path(str(Path(__file__).with_name("benchmark.py")))
box_targets, hq_decoder_step = _STEP_CODE["box_targets"], _STEP_CODE["hq_decoder_step"]


def one_step(variant: str, policy: str, checkpointing: bool, batch: int, device: str, steps: int) -> dict:
    model = build_sam_hq(variant, seed=0, policy=policy).to(device)
    if checkpointing:
        model.image_encoder.grad_checkpointing = True
    size = model.image_size
    images = torch.rand(batch, 3, size, size, device=device) * 255
    boxes = torch.tensor([[[size * 0.2, size * 0.2, size * 0.7, size * 0.8]]], device=device).expand(batch, 1, 4)
    decoder_step = hq_decoder_step(model, boxes, box_targets(images, boxes), policy)

    def train_step() -> None:
        with torch.set_grad_enabled(encoder_needs_grad(policy)):
            features = model.encode(images)
        decoder_step(features)

    saved_mb = saved_for_backward_mb(model, train_step)
    times, cpu_times = [], []
    for _ in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        train_step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    out = {"step_s": min(times), "cpu_s": min(cpu_times), "saved_mb": saved_mb,
           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device == "cuda":
        out["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def saved_for_backward_mb(model: torch.nn.Module, run) -> float:
    """MB of the distinct storages autograd saves for backward while `run` runs (forward and
    backward), the model's parameters left out. Saved tensors live until the backward, so this is
    the activation memory held at its start; inside a checkpointed block checkpoint's own hooks
    save nothing but the block's input, which is counted here."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(storages.values()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["vit_demo", "vit_tiny"])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per run (the minimum is kept)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: variant,policy,checkpointing
    args = parser.parse_args()
    if args.one:
        variant, policy, ckpt = args.one.split(",")
        print(json.dumps(one_step(variant, policy, ckpt == "1", args.batch, args.device, args.steps)))
        return
    rows = []
    print(f"| variant | policy | grad ckpt | step s (batch {args.batch}) | CPU s | saved MB | peak RSS MB "
          "| CUDA MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for variant in args.variants:
        for policy in args.policies:
            for ckpt in ([False, True] if encoder_needs_grad(policy) else [False]):
                cmd = [sys.executable, __file__, "--one", f"{variant},{policy},{int(ckpt)}",
                       "--batch", str(args.batch), "--steps", str(args.steps), "--device", args.device]
                result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                rows.append({"variant": variant, "policy": policy, "grad_checkpointing": ckpt, **result})
                cuda = f"{result['cuda_mb']:.0f}" if "cuda_mb" in result else "-"
                print(f"| {variant} | {policy} | {'yes' if ckpt else 'no'} | {result['step_s']:.2f} | "
                      f"{result['cpu_s']:.2f} | {result['saved_mb']:.1f} | {result['rss_mb']:.0f} | {cuda} |",
                      flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
