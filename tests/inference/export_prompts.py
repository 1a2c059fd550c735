"""The export tests' prompts (a box, three points) and their tolerance against our outputs."""

import torch

ATOL = 1e-4
BOX = torch.tensor([[[20.0, 30.0, 150.0, 200.0]]])
POINTS = (
    torch.tensor([[[[40.0, 50.0], [100.0, 180.0], [10.0, 10.0]]]]),
    torch.tensor([[[1.0, 1.0, 0.0]]]),
)
