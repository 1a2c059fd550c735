"""PhraseFeatures on a tiny text encoder (audit 12): an encoder with a single trainable tensor (a
LoRA adapter) is not frozen and its features are not kept; rows kept from another device (the
model moved) are encoded again where the tokens are; a batch mixing kept and new phrases, each
repeated, equals the encoder's own rows."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from samhq_train.training.concept.phrase_features import PhraseFeatures


class TinyTextEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(9, 3)
        self.adapter = nn.Linear(3, 3)  # its bias added: exact, whatever the batch
        self.calls: list[int] = []

    def forward(self, ids: torch.Tensor) -> SimpleNamespace:
        self.calls.append(len(ids))
        return SimpleNamespace(features=self.embed(ids) + self.adapter.bias, padding_mask=ids == 0)


def frozen_encoder() -> TinyTextEncoder:
    return TinyTextEncoder().requires_grad_(False)


def test_one_trainable_tensor_makes_the_encoder_trainable():
    encoder = frozen_encoder()
    encoder.adapter.weight.requires_grad_(True)
    features = PhraseFeatures(encoder)
    assert not features.frozen
    with pytest.raises(ValueError, match="text encoder trains"):
        features(torch.tensor([[1, 2]]))


def test_rows_kept_on_another_device_are_encoded_again():
    encoder = frozen_encoder()
    features = PhraseFeatures(encoder)
    tokens = torch.tensor([[3, 4, 0], [5, 0, 0]])
    features.rows = {tuple(row): (torch.empty(3, 3, device="meta"),
                                  torch.empty(3, dtype=torch.bool, device="meta"))
                     for row in tokens.tolist()}
    got, padding = features(tokens)
    want = encoder(tokens)
    assert got.device.type == "cpu" and torch.equal(got, want.features)
    assert torch.equal(padding, want.padding_mask)
    assert all(value[0].device.type == "cpu" for value in features.rows.values())


def test_kept_and_new_phrases_mixed_and_repeated():
    encoder = frozen_encoder()
    features = PhraseFeatures(encoder)
    phrases = torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6], [7, 0, 0], [8, 8, 0]])
    features(phrases[[1, 3]])
    rows = [4, 1, 0, 4, 2, 3, 0]
    got, padding = features(phrases[rows])
    assert encoder.calls == [2, 3]  # the second batch encodes its 3 new phrases only
    want = encoder(phrases)
    assert torch.equal(got, want.features[rows]) and torch.equal(padding, want.padding_mask[rows])
