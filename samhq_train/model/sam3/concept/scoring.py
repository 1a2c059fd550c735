"""SAM 3's dot-product scoring (model_misc.DotProductScoring as model_builder builds it, keys
detector.dot_prod_scoring.*): each decoder query's logit is the scaled dot product of its projected
state with the projection of the prompt, mean-pooled over its valid tokens after a residual MLP."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...sam2.layers import MLP


@dataclass(frozen=True)
class DotProductScoringConfig:
    """Sizes of the scoring head; defaults are Meta's full-size values."""

    d_model: int = 256
    d_proj: int = 256
    mlp_hidden_dim: int = 2048
    mlp_num_layers: int = 2
    clamp_max: float = 12.0  # logits are clamped to [-clamp_max, clamp_max]
    dropout: float = 0.1  # the prompt MLP's, after its hidden layer (train mode only)


def mean_pool_prompt(prompt: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """The mean of a B x S x d prompt over its valid tokens (padding B x S, True = padding):
    B x d. A prompt with no valid token pools to zeros."""
    valid = (~padding).to(prompt.dtype)[..., None]
    count = valid.sum(dim=1).clamp(min=1.0)
    return (prompt * valid).sum(dim=1) / count


class DotProductScoring(nn.Module):
    """Query logits against the prompt (the prompt MLP's dropout acts in train mode only)."""

    def __init__(self, cfg: DotProductScoringConfig = DotProductScoringConfig()) -> None:
        super().__init__()
        d = cfg.d_model
        self.prompt_mlp = MLP(
            d,
            cfg.mlp_hidden_dim,
            d,
            cfg.mlp_num_layers,
            residual=True,
            out_norm=nn.LayerNorm(d),
            dropout=cfg.dropout,
        )
        self.prompt_proj = nn.Linear(d, cfg.d_proj)
        self.hs_proj = nn.Linear(d, cfg.d_proj)
        self.scale = 1.0 / math.sqrt(cfg.d_proj)
        self.clamp_max = cfg.clamp_max

    def forward(
        self, hs: torch.Tensor, prompt: torch.Tensor, prompt_padding: torch.Tensor
    ) -> torch.Tensor:
        """hs: L x B x Q x d (decoder layers' query states, batch-first as Sam3Image passes them);
        prompt: B x S x d (text + geometry tokens); prompt_padding: B x S (True = padding).
        Returns the logits L x B x Q x 1, clamped to +-clamp_max."""
        pooled = mean_pool_prompt(self.prompt_mlp(prompt), prompt_padding)
        prompt_vec = self.prompt_proj(pooled)  # B x d_proj
        queries = self.hs_proj(hs)  # L x B x Q x d_proj
        logits = torch.matmul(queries, prompt_vec[:, :, None]) * self.scale
        return logits.clamp(min=-self.clamp_max, max=self.clamp_max)
