"""SAM 2's MLP (any activation, optional sigmoid; keys layers.N), used by its decoder heads, the
two-way transformer and the memory attention; SAM 3's concept detector adds a residual and an
output norm (model_misc.MLP: the dot-product scoring's prompt MLP). The projected multi-head
attention they share with SAM 1 lives in model/two_way_transformer.py."""

import torch
from torch import nn

from .. import cpu_int8


class MLP(nn.Module):
    """`num_layers` linear layers with `activation` between them (sam2_utils.MLP: keys layers.N).
    `residual` adds the input to the last layer's output and `out_norm` (key out_norm.*) follows,
    as SAM 3's model_misc.MLP; `dropout` (SAM 3's) follows each hidden activation in train mode."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        *,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
        residual: bool = False,
        out_norm: nn.Module | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))
        self.act = activation()
        self.sigmoid_output = sigmoid_output
        if residual and input_dim != output_dim:
            raise ValueError("a residual MLP needs input_dim == output_dim")
        self.residual = residual
        self.out_norm = out_norm
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):  # int8 GEMMs in Hiera's int8 scope (cpu_int8)
            x = cpu_int8.call(layer, x, self.act if i < last else None)
            if self.drop is not None and i < last:
                x = self.drop(x)
        if self.residual:
            x = x + residual
        if self.out_norm is not None:
            x = self.out_norm(x)
        return torch.sigmoid(x) if self.sigmoid_output else x
