"""Cases the mutation audit found unchecked: the confidence cut is strict (Meta's `>`), exemplar
labels default to positive and need one per box, detector positions follow the levels' dtype
under autocast (Meta's `.to(x.dtype)`), and a merges file that is too large or truncated is one
user error; text ids longer than the context, a tokenizer of another context, more FPN levels than
pixel-decoder stages and detector tensors that do not fit the variant are refused; the full-size
scoring clamp and inverse_sigmoid's floors are Meta's."""

import gzip

import numpy as np
import pytest
import torch

from samhq_train import clip_tokenizer as tokenizer_module
from samhq_train.clip_tokenizer import ClipTokenizer, TokenizerFileError
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.predictor import PromptError
from samhq_train.model import load_checkpoint
from samhq_train.model.sam3.concept.boxes import inverse_sigmoid
from samhq_train.model.sam3.concept.config import ConceptConfig
from samhq_train.model.sam3.concept.detector import NoDetectorError, concept_detector
from samhq_train.model.sam3.concept.scoring import DotProductScoring
from samhq_train.model.sam3.concept.segmentation import PixelDecoder
from samhq_train.model.sam3.concept.text_encoder import TextEncoder, TextEncoderConfig
from tests.reference import randomize_

from .ours_file import write_sam3_with_detector
from .synthetic_bpe import write_merges_file

BOXES = np.array([[20.0, 30.0, 90.0, 100.0], [120.0, 10.0, 150.0, 60.0]])


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    checkpoint, merges = write_sam3_with_detector(tmp_path_factory.mktemp("concept_audit"))
    found = ConceptPredictor(load_checkpoint(checkpoint).eval(), merges, threshold=0.0)
    found.set_image((np.random.RandomState(5).rand(110, 160, 3) * 255).astype(np.uint8))
    return found


def test_an_instance_scoring_exactly_the_threshold_is_left_out(predictor):
    everything = predictor.predict("a cat", refine=False)
    scores = np.sort(everything.scores)
    cut = float(scores[len(scores) // 2])
    kept = predictor.predict("a cat", refine=False, threshold=cut)
    assert len(kept) == int((scores > cut).sum()) == len(scores) - len(scores) // 2 - 1
    assert cut not in kept.scores.tolist() and (kept.scores > cut).all()


def test_exemplar_labels_default_to_examples(predictor):
    default = predictor.predict(None, exemplar_boxes=BOXES, refine=False)
    positive = predictor.predict(None, exemplar_boxes=BOXES, exemplar_labels=[1, 1], refine=False)
    counter = predictor.predict(None, exemplar_boxes=BOXES, exemplar_labels=[0, 0], refine=False)
    np.testing.assert_array_equal(default.scores, positive.scores)
    np.testing.assert_array_equal(default.boxes, positive.boxes)
    assert len(default) == len(counter)  # threshold 0: every query
    assert np.abs(default.scores - counter.scores).max() > 1e-4


@pytest.mark.parametrize("labels", [[1], [1, 0, 1], [[1, 0]]])
def test_exemplar_labels_need_one_per_box(predictor, labels):
    with pytest.raises(PromptError, match="one 1 \\(example\\) or 0"):
        predictor.predict(None, exemplar_boxes=BOXES, exemplar_labels=labels)


def test_detector_positions_follow_the_levels_dtype_under_autocast(predictor):
    trunk = torch.randn(1, predictor.model.image_encoder.trunk.pos_embed.shape[-1], 6, 6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        image = predictor.detector.encode_image(trunk)
    assert [x.dtype for x in image.levels] == [torch.bfloat16] * len(image.levels)
    assert [p.dtype for p in image.positions] == [torch.bfloat16] * len(image.levels)
    with torch.no_grad():
        exact = predictor.detector.encode_image(trunk)
    assert [p.dtype for p in exact.positions] == [torch.float32] * len(image.levels)


def test_a_merges_file_too_large_is_one_user_error(tmp_path, monkeypatch):
    path = tmp_path / "merges.txt.gz"
    write_merges_file(path)
    size = len(gzip.decompress(path.read_bytes()))
    monkeypatch.setattr(tokenizer_module, "MAX_MERGES_FILE_BYTES", size - 1)
    with pytest.raises(TokenizerFileError, match=f"decompresses to over {size - 1} bytes"):
        ClipTokenizer(path, vocab_size=None)
    monkeypatch.setattr(tokenizer_module, "MAX_MERGES_FILE_BYTES", size)
    ClipTokenizer(path, vocab_size=None)


def test_a_truncated_merges_file_is_one_user_error(tmp_path):
    path = tmp_path / "merges.txt.gz"
    write_merges_file(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(TokenizerFileError, match="not a readable gzipped") as err:
        ClipTokenizer(path, vocab_size=None)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_text_ids_longer_than_the_context_and_a_tokenizer_of_another_context_are_refused(
    tmp_path,
):
    cfg = TextEncoderConfig(d_model=8, width=16, heads=2, layers=1, context_length=8)
    encoder = TextEncoder(cfg)
    with pytest.raises(ValueError, match="L <= 8"):
        encoder(torch.zeros(1, 9, dtype=torch.long))
    assert encoder(torch.zeros(2, 8, dtype=torch.long)).features.shape == (2, 8, 8)
    path = tmp_path / "merges.txt.gz"
    write_merges_file(path)
    with pytest.raises(ValueError, match="context 16 is not the text encoder's 8"):
        TextEncoder(cfg, ClipTokenizer(path, context_length=16, vocab_size=None))


def test_more_levels_than_pixel_decoder_stages_are_refused():
    decoder = PixelDecoder(8, stages=1, norm_groups=2)
    levels = [torch.zeros(1, 8, 4 * 2**i, 4 * 2**i) for i in (2, 1, 0)]
    with pytest.raises(ValueError, match="3 FPN levels need 2 decoder stages"):
        decoder(levels)
    assert decoder(levels[1:]).shape == (1, 8, 8, 8)


@pytest.mark.parametrize("change", ["reshape", "drop"])
def test_detector_tensors_that_do_not_fit_the_variant_are_refused(tmp_path, change):
    checkpoint, _ = write_sam3_with_detector(tmp_path)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    key = "detector.dot_prod_scoring.hs_proj.bias"
    if change == "reshape":
        state[key] = torch.zeros(state[key].shape[0] + 1)
    else:
        del state[key]
    torch.save(state, checkpoint)
    with pytest.raises(NoDetectorError, match=f"first mismatch: {key}\\)") as err:
        concept_detector(load_checkpoint(checkpoint))
    assert "\n" not in str(err.value)


def test_full_size_scoring_clamps_where_metas_does():
    """The detector's scoring (ConceptConfig's sizes, the default clamp) against Meta's
    model_builder one, on states large enough that part of the logits reach the clamp."""
    builder = pytest.importorskip("sam3.model_builder")
    meta = randomize_(builder._create_dot_product_scoring(), seed=4, scale=0.3).eval()
    ours = DotProductScoring(ConceptConfig().scoring).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    hs = torch.randn(1, 2, 40, 256, generator=gen) * 2.0
    prompt = torch.randn(2, 7, 256, generator=gen)
    padding = torch.arange(7)[None] >= torch.tensor([[7], [3]])
    with torch.no_grad():
        want = meta(hs, prompt.transpose(0, 1), padding)
        got = ours(hs, prompt, padding)
    clamped = (want.abs() == 12.0).float().mean().item()
    assert 0.05 < clamped < 0.9
    assert (got - want).abs().max().item() <= 1e-5 * want.abs().max().item()


def test_inverse_sigmoid_equals_metas_at_the_ends():
    model_misc = pytest.importorskip("sam3.model.model_misc")
    x = torch.tensor([-0.5, 0.0, 1e-6, 1e-4, 9e-4, 1e-3, 0.2, 0.5, 0.9991, 1 - 1e-5, 1.0, 1.5])
    torch.testing.assert_close(inverse_sigmoid(x), model_misc.inverse_sigmoid(x), rtol=0, atol=0)


def test_boxes_past_the_image_edge_are_clipped_before_refinement(predictor):
    """Meta's predict_inst takes the detector's boxes clipped to the image (as
    test_concept_predictor compares); here one box ends past the right edge."""
    h, w = predictor.interactive.original_size
    raw = predictor.predict("two dogs", refine=False)
    outside = (raw.boxes[:, :2] < 0).any(1) | (raw.boxes[:, 2] > w) | (raw.boxes[:, 3] > h)
    assert outside.any()
    refined = predictor.predict("two dogs", use_hq=False)
    masks, scores, _ = predictor.interactive.predict(
        box=np.clip(raw.boxes, 0, [w, h, w, h]),
        multimask_output=False,
        use_hq=False,
        fill_hole_area=256,  # Meta's predict_inst: its interactive predictor's max_hole_area
    )
    np.testing.assert_array_equal(refined.masks, masks[:, 0])
    np.testing.assert_array_equal(refined.mask_scores, scores[:, 0])
