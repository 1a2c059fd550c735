"""FlexAttention for the ViT's rel-pos attention (model/sam1/flex_attention.py): the bias added in
the kernel gives the SDPA path's (and the official encoder's) outputs; it steps aside where it does
not serve (gradients into the attention, tracing, auto on CPU) and after a compile error."""

import logging
import shutil

import pytest
import torch

from samhq_train.model.sam1 import flex_attention as fa
from samhq_train.model.sam1.image_encoder import rel_pos_attention
from tests.reference import official_twin, random_tiny_model

pytestmark = pytest.mark.skipif(fa.flex_attention() is None, reason="torch without FlexAttention")


def attention_inputs(b=2, heads=3, h=6, w=5, c=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, heads, h * w, c, generator=gen) for _ in range(3))
    rel_h = torch.randn(b, heads, h, w, h, generator=gen)
    rel_w = torch.randn(b, heads, h, w, w, generator=gen)
    return q, k, v, rel_h, rel_w


@pytest.fixture
def eager_flex(monkeypatch):
    """FlexAttention without compiling (its reference implementation), counting the calls."""
    calls = []

    def eager(*args, **kwargs):
        calls.append(1)
        return fa.flex_attention()(*args, **kwargs)

    monkeypatch.setattr(fa, "compiled_flex_attention", lambda: eager)
    return calls


@pytest.mark.filterwarnings("ignore:.*flex_attention called without torch.compile")
def test_flex_kernel_gives_the_official_encoder_outputs(eager_flex):
    ours = random_tiny_model(seed=1)
    official = official_twin(ours)
    images = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(7)) * 255
    ours.image_encoder.attention_kernel = "flex"
    with torch.no_grad():
        features = ours.encode(images)
        ref_emb, ref_interm = official.image_encoder(official.preprocess(images))
    assert len(eager_flex) == len(ours.image_encoder.blocks)  # every block, windowed and global
    torch.testing.assert_close(features.embedding, ref_emb, atol=1e-5, rtol=0)
    torch.testing.assert_close(features.early, ref_interm[0], atol=1e-5, rtol=0)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")
def test_compiled_flex_on_cpu_matches_the_sdpa_path():
    q, k, v, rel_h, rel_w = attention_inputs()
    out = fa.rel_pos_flex_attention(q, k, v, rel_h, rel_w)
    assert out is not None, "FlexAttention did not compile"
    torch.testing.assert_close(out, rel_pos_attention(q, k, v, rel_h, rel_w), atol=1e-5, rtol=0)


def test_flex_steps_aside_where_it_does_not_serve():
    q, k, v, rel_h, rel_w = attention_inputs()
    assert fa.flex_serves("flex", q, k, v, rel_h, rel_w)
    assert not fa.flex_serves("sdpa", q, k, v, rel_h, rel_w)
    assert not fa.flex_serves("auto", q, k, v, rel_h, rel_w)  # CPU: SDPA is the default there
    trained = q.clone().requires_grad_()
    assert not fa.flex_serves("flex", trained, k, v, rel_h, rel_w)  # an encoder being trained
    with torch.no_grad():
        assert fa.flex_serves("flex", trained, k, v, rel_h, rel_w)


def test_a_compile_error_is_said_once_and_sdpa_serves(monkeypatch, caplog):
    def broken():
        def fail(*args, **kwargs):
            raise RuntimeError("no backend for this device\nlong trace")
        return fail

    monkeypatch.setattr(fa, "compiled_flex_attention", broken)
    monkeypatch.setattr(fa, "_failed", False)
    model = random_tiny_model(seed=1)
    images = torch.rand(1, 3, 256, 192, generator=torch.Generator().manual_seed(7)) * 255
    with torch.no_grad():
        reference = model.encode(images).embedding
        model.image_encoder.attention_kernel = "flex"
        with caplog.at_level(logging.WARNING, logger=fa.__name__):
            out = model.encode(images).embedding
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["FlexAttention failed to compile"]
    assert "long trace" not in caplog.text
    torch.testing.assert_close(out, reference, atol=0, rtol=0)


def test_model_attention_reaches_the_vit_and_flex_is_refused_elsewhere():
    from samhq_train.model import build_sam_hq

    vit = random_tiny_model(seed=1).image_encoder
    fa.set_attention_kernel(vit, "sdpa")
    assert vit.attention_kernel == "sdpa" and {b.attn.kernel for b in vit.blocks} == {"sdpa"}
    tiny_vit = build_sam_hq("vit_tiny", seed=0).image_encoder
    fa.set_attention_kernel(tiny_vit, "sdpa")  # what it runs anyway
    with pytest.raises(ValueError, match="model.attention=flex: expected auto or sdpa: TinyViT has no relative-position"):
        fa.set_attention_kernel(tiny_vit, "flex")
    with pytest.raises(ValueError, match="model.attention=fused: expected one of auto, sdpa, flex"):
        fa.set_attention_kernel(vit, "fused")


def test_an_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="attention kernel 'fused': expected one of auto, sdpa, flex"):
        random_tiny_model(seed=1).image_encoder.attention_kernel = "fused"
