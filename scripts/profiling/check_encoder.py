"""Numerics of the SAM ViT encoder vs the reference (commit e94e7c5) and of gradient checkpointing
(ViT and TinyViT), on tiny random models; CPU, seconds. Exits non-zero on a failed check.

    python scripts/profiling/check_encoder.py
"""

import contextlib
import sys

import torch
from profile_encoder import ROOT, load_module, randomize, reference_source

SMALL = dict(img_size=256, embed_dim=64, depth=4, num_heads=4, window_size=6, global_attn_indexes=(1, 3))
failures = []


def check(name: str, value: float, limit: float) -> None:
    ok = value <= limit
    failures.extend([] if ok else [name])
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3e} (limit {limit:.0e})")


def max_diff(a, b) -> float:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (x is None and y is None)]
    return max((x.float() - y.float()).abs().max().item() for x, y in pairs)


def max_rel_diff(a, b) -> float:
    """Max abs diff of each tensor pair over that tensor's max abs value (gradients span scales)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (x is None and y is None)]
    return max(((x - y).abs().max() / y.abs().max().clamp_min(1e-12)).item() for x, y in pairs)


def forward_backward(model, x):
    """(embedding, early, grads of the input and of every parameter) for a fixed random loss."""
    x = x.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    emb, early = model(x)
    gen = torch.Generator().manual_seed(2)
    loss = (emb * torch.randn(emb.shape, generator=gen)).sum() + (early * torch.randn(early.shape, generator=gen)).sum()
    loss.backward()
    return [emb.detach(), early.detach()], [x.grad] + [p.grad for p in model.parameters()]


def count_calls(module, name: str) -> list[int]:
    """Wrap module.<name> (a function) to count its calls; returns the one-element counter."""
    calls, inner = [0], getattr(module, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return inner(*args, **kwargs)

    setattr(module, name, counted)
    return calls


def main() -> None:
    torch.set_num_threads(2)
    new = load_module("_enc.sam1.image_encoder", ROOT / "samhq_train/model/sam1/image_encoder.py")
    ref = load_module("_enc.ref_image_encoder", reference_source(None))
    tiny_vit = load_module("_enc.sam1.tiny_vit", ROOT / "samhq_train/model/sam1/tiny_vit.py")
    model = new.ImageEncoderViT(**SMALL).eval()
    randomize(model)
    reference = ref.ImageEncoderViT(**SMALL).eval()
    reference.load_state_dict(model.state_dict())
    assert list(model.state_dict()) == list(reference.state_dict())
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))

    with torch.no_grad():
        expected = reference(x)
        default_budget = new.CPU_BIAS_CHUNK_BYTES
        # 1: one row / one window a chunk; 145152: 2 rows (global), 7 of 18 windows; 196608: 3 of 16 rows
        for budget in (1, 145152, 196608, default_budget):
            new.CPU_BIAS_CHUNK_BYTES = budget
            check(f"fp32 vs reference, bias chunk {budget} B", max_diff(model(x), expected), 1e-5)
        new.CPU_BIAS_CHUNK_BYTES = default_budget
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, want = model(x), reference(x)
            # the plain blocks and SDPA: the reference's bf16 operations
            new.cpu_blocks.ENABLED, serves = False, new.cpu_attention.serves
            new.cpu_attention.serves = lambda *args: False
            plain = model(x)
            new.cpu_blocks.ENABLED, new.cpu_attention.serves = True, serves
        check("bf16 autocast, plain blocks + SDPA vs reference (same bf16 ops)", max_diff(plain, want), 1e-2)
        ratio = max_diff(got, expected) / max_diff(want, expected)
        check("bf16 CPU blocks and kernels: max error to fp32 / the reference's", ratio, 1.5)
        assert got[0].dtype == want[0].dtype, (got[0].dtype, want[0].dtype)

    model.train(), reference.train()
    new.CPU_BIAS_CHUNK_BYTES = 145152  # gradients through the chunked bias too
    out_ref, grads_ref = forward_backward(reference, x)
    out, grads = forward_backward(model, x)
    check("train fp32 outputs vs reference", max_diff(out, out_ref), 1e-5)
    check("train fp32 grads vs reference, relative to each grad's max", max_rel_diff(grads, grads_ref), 1e-5)
    print(f"     (max abs {max_diff(grads, grads_ref):.2e}, largest grad {max(g.abs().max().item() for g in grads_ref):.2e})")
    model.grad_checkpointing = True
    assert new.use_checkpointing(model, x)
    calls = count_calls(new, "checkpoint")
    out_ckpt, grads_ckpt = forward_backward(model, x)
    assert calls[0] == SMALL["depth"], calls
    check("ViT grad checkpointing, outputs", max_diff(out_ckpt, out), 1e-6)
    check("ViT grad checkpointing, grads", max_diff(grads_ckpt, grads), 1e-6)
    new.CPU_BIAS_CHUNK_BYTES = default_budget
    with torch.no_grad():
        assert not new.use_checkpointing(model, x)
    frozen = new.ImageEncoderViT(**SMALL, grad_checkpointing=True).eval().requires_grad_(False)
    assert not new.use_checkpointing(frozen, x) and new.use_checkpointing(frozen, x.requires_grad_(True))

    tiny_kwargs = dict(
        img_size=128, embed_dims=(16, 32, 48, 64), depths=(2, 2, 2, 1), num_heads=(1, 2, 3, 4),
        window_sizes=(7, 7, 5, 7), mlp_ratio=4.0, mbconv_expand_ratio=4.0, local_conv_size=3, out_chans=32,
        num_classes=10,
    )
    torch.manual_seed(0)
    plain = tiny_vit.TinyViT(**tiny_kwargs).train()
    randomize(plain)
    ckpt = tiny_vit.TinyViT(**tiny_kwargs, grad_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    xt = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    out_plain, grads_plain = forward_backward(plain, xt)
    calls = count_calls(tiny_vit, "checkpoint")
    out_tc, grads_tc = forward_backward(ckpt, xt)
    assert calls[0] == sum(tiny_kwargs["depths"]), calls
    check("TinyViT grad checkpointing (train mode, BatchNorm), outputs", max_diff(out_tc, out_plain), 1e-6)
    check("TinyViT grad checkpointing, grads", max_diff(grads_tc, grads_plain), 1e-6)
    stats = [(a, b) for a, b in zip(plain.buffers(), ckpt.buffers(), strict=True)]
    check("TinyViT grad checkpointing, BatchNorm running stats", max_diff(*zip(*stats)), 0.0)
    with torch.no_grad(), contextlib.nullcontext():
        emb, early = ckpt.eval()(xt)
    assert emb.shape == (2, 32, 8, 8) and early.shape == (2, 8, 8, 48), (emb.shape, early.shape)
    if failures:
        sys.exit(f"failed: {failures}")
    print("all checks passed")


if __name__ == "__main__":
    main()
