"""SAM 2's MLP (any activation, optional sigmoid; keys layers.N), used by its decoder heads, the
two-way transformer and the memory attention. The projected multi-head attention they share with
SAM 1 lives in model/two_way_transformer.py."""

import torch
from torch import nn

from .. import cpu_int8


class MLP(nn.Module):
    """`num_layers` linear layers with `activation` between them (sam2_utils.MLP: keys layers.N)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        *,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))
        self.act = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):  # int8 GEMMs in Hiera's int8 scope (cpu_int8)
            x = cpu_int8.call(layer, x, self.act if i < last else None)
        return torch.sigmoid(x) if self.sigmoid_output else x
