"""Our SAM 3 text encoder equals Meta's sam3 VETextEncoder as SAM3VLBackbone.forward_text runs
it (language_features, language_mask, language_embeds): a miniature with every parameter drawn,
texts of different lengths in one batch (padding and truncation), and the full-size key set."""

import pytest
import torch
from torch import nn

from samhq_train.clip_tokenizer import ClipTokenizer, TokenizerFileError
from samhq_train.model.sam3.concept.text_encoder import (
    STATE_PREFIX,
    TextEncoder,
    TextEncoderConfig,
)

from .synthetic_bpe import write_merges_file

pytest.importorskip("sam3")
from sam3.model.text_encoder_ve import VETextEncoder  # noqa: E402
from sam3.model.tokenizer_ve import SimpleTokenizer  # noqa: E402
from sam3.model.vl_combiner import SAM3VLBackbone  # noqa: E402

TEXTS = [
    "a cat",
    "the striped cat watches the birds in the garden",
    "wow!? two DOGS",  # "!" stays unmerged: id 0 inside the text, which Meta masks as padding
    "",
    " ".join(["a red car passes over the old stone bridge at sunset"] * 4),  # over 32 tokens
    "Café crème brûlée &amp; 🐱",
]


def draw_every_parameter(module: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            is_norm_weight = ".ln_" in name and name.endswith("weight")
            p.copy_(1 + 0.1 * noise if is_norm_weight else 0.3 * noise)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(Meta's backbone with the text encoder, ours) with the same drawn weights."""
    path = tmp_path_factory.mktemp("bpe") / "merges.txt.gz"
    vocab = write_merges_file(path)
    cfg = TextEncoderConfig(d_model=32, width=64, heads=4, layers=2, vocab_size=vocab)
    meta_text = VETextEncoder(
        d_model=cfg.d_model,
        tokenizer=SimpleTokenizer(bpe_path=str(path)),
        width=cfg.width,
        heads=cfg.heads,
        layers=cfg.layers,
        context_length=cfg.context_length,
        vocab_size=vocab,
    )
    draw_every_parameter(meta_text)
    meta = SAM3VLBackbone(visual=nn.Identity(), text=meta_text, scalp=1).eval()
    ours = TextEncoder(cfg, ClipTokenizer(path, cfg.context_length, vocab)).eval()
    state = {
        k.removeprefix("language_backbone."): v
        for k, v in meta.state_dict().items()
        if k.startswith("language_backbone.")
    }
    ours.load_state_dict(state, strict=True)
    return meta, ours


def relative_diff(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max()).item()


def test_forward_text_equals_meta(pair):
    meta, ours = pair
    with torch.no_grad():
        expected = meta.forward_text(TEXTS, device="cpu")
        got = ours(TEXTS)
    mask = expected["language_mask"]
    assert mask.any(1).sum() == len(TEXTS) - 1 and (~mask).any(1).all()  # padded, never empty
    assert mask[:, :-1].logical_and(~mask[:, 1:]).any()  # a masked id 0 inside a text
    assert not mask[4].any()  # the long text fills the context
    assert torch.equal(got.padding_mask, mask)
    features = expected["language_features"].transpose(0, 1)  # Meta: (L, B, d_model)
    embeds = expected["language_embeds"].transpose(0, 1)
    assert got.features.shape == features.shape == (len(TEXTS), 32, 32)
    assert got.token_embeddings.shape == embeds.shape == (len(TEXTS), 32, 64)
    assert relative_diff(got.features, features) <= 1e-5
    assert torch.equal(got.token_embeddings, embeds)
    # texts alone give what they give in the batch (no text sees another's tokens)
    with torch.no_grad():
        alone = ours(TEXTS[1])
    assert relative_diff(alone.features[0], got.features[1]) <= 1e-5


def test_ids_shorter_than_the_context_equal_meta_transformer(pair):
    meta, ours = pair
    meta_text = meta.language_backbone
    ids = meta_text.tokenizer(TEXTS, context_length=32)[:, :12]
    with torch.no_grad():
        _, tokens = meta_text.encoder(ids)
        expected = meta_text.resizer(tokens)
        got = ours(ids)
    assert got.features.shape == (len(TEXTS), 12, 32)
    assert relative_diff(got.features, expected) <= 1e-5
    assert torch.equal(got.padding_mask, ids == 0)


def mean_relative_error(got: torch.Tensor, reference: torch.Tensor) -> float:
    return ((got.float() - reference).abs().mean() / reference.abs().mean()).item()


def test_autocast_follows_meta(pair):
    """Meta casts nothing in the text path (autocast decides); under bfloat16 autocast ours gives
    Meta's dtype, and its rounding error (vs fp32) is no larger than Meta's own."""
    meta, ours = pair
    with torch.no_grad():
        reference = meta.forward_text(TEXTS, device="cpu")["language_features"].transpose(0, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = meta.forward_text(TEXTS, device="cpu")["language_features"]
            got = ours(TEXTS).features
    assert got.dtype == expected.dtype == torch.bfloat16
    meta_error = mean_relative_error(expected.transpose(0, 1), reference)
    assert 0 < mean_relative_error(got, reference) <= 1.5 * meta_error


def test_text_without_merges_file_is_a_user_error(pair):
    _, ours = pair
    bare = TextEncoder(ours.cfg)
    with pytest.raises(TokenizerFileError, match="bpe_simple_vocab_16e6.txt.gz"):
        bare(["a cat"])


def test_full_size_keys_and_shapes_equal_meta():
    """model_builder._create_text_encoder's module, at the detector's key paths."""
    with torch.device("meta"):
        meta_text = VETextEncoder(tokenizer=None, d_model=256, width=1024, heads=16, layers=24)
        meta = SAM3VLBackbone(visual=nn.Identity(), text=meta_text, scalp=1)
        ours = TextEncoder()
    expected = {"detector.backbone." + k: v.shape for k, v in meta.state_dict().items()}
    got = {STATE_PREFIX + k: v.shape for k, v in ours.state_dict().items()}
    assert got == expected
    assert len(got) == 3 + 24 * 12 + 2 + 2  # embeddings + projection, blocks, ln_final, resizer
