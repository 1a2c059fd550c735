"""The cached hq training step the CPU step tests compare: decoder and HQ head from encoded
features, the point-sampled loss on a random target, backward."""

import torch

from samhq_train.training.losses import PointSampledMaskLoss


def cached_batch(model, n: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features of n random images (encoded without autograd), a box each and random 0 / 1
    targets, at the model's input size (n at most 2)."""
    size = model.image_size
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        features = model.encode(torch.rand(n, 3, size, size, generator=gen) * 255)
    boxes = torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]])[:n, None] * size
    target = (torch.rand(n, 1, size, size, generator=gen) > 0.5).float()
    return features, boxes, target


def cached_step(model, features, boxes, target, *, bf16: bool = False, **loss_options) -> tuple:
    """One step's (HQ logits, loss, {parameter name: gradient}), under CPU bf16 autocast with
    `bf16`; `loss_options` go to PointSampledMaskLoss (1024 points)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        low_res, _ = model.decode(features, boxes=boxes, hq_token_only=True)
        loss_fn = PointSampledMaskLoss(num_points=1024, **loss_options)
        loss = loss_fn(low_res[:, :, 0], target, generator=torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return low_res.detach().float(), loss.detach(), grads
