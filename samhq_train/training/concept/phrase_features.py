"""The frozen text encoder's features of each phrase, computed once and reused: policies detector
and detector+lora freeze SAM 3's text encoder, which has no dropout, so a phrase's features are the
same at every step, in train and eval mode. A step encodes only the phrases not seen before, in
the order and batch the detector's own forward_train would encode them (its distinct token rows,
sorted), so a run's first step is bit for bit the uncached one."""

from __future__ import annotations

import torch
from torch import nn


class PhraseFeatures:
    """encoder: the text encoder (ids B x L -> features B x L x d and padding B x L). Call
    clear() whenever its weights may have changed (a checkpoint loaded)."""

    def __init__(self, encoder: nn.Module) -> None:
        self.encoder = encoder
        self.rows: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def frozen(self) -> bool:
        """Whether the encoder is frozen (no parameter trains, LoRA adapters included): the
        only case where its features may be kept."""
        return not any(p.requires_grad for p in self.encoder.parameters())

    def clear(self) -> None:
        self.rows.clear()

    def __call__(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features B x L x d, padding B x L) of B token rows (the encoder must be frozen)."""
        if not self.frozen:
            raise ValueError("the text encoder trains: its features cannot be kept")
        phrases, phrase_of_row = torch.unique(token_ids, dim=0, return_inverse=True)
        keys = [tuple(row) for row in phrases.tolist()]
        if self.rows and next(iter(self.rows.values()))[0].device != token_ids.device:
            self.clear()  # the model was moved
        new = [i for i, key in enumerate(keys) if key not in self.rows]
        if new:
            with torch.no_grad():
                encoded = self.encoder(phrases[new])
            for row, i in enumerate(new):
                self.rows[keys[i]] = (encoded.features[row], encoded.padding_mask[row])
        features = torch.stack([self.rows[key][0] for key in keys])
        padding = torch.stack([self.rows[key][1] for key in keys])
        return features[phrase_of_row], padding[phrase_of_row]
