"""The concept module's reuse of a frozen text encoder's features (PhraseFeatures) and its skip of
the segmentation head without mask terms change no value: training steps of policy detector (the
miniature with a drawn detector, dropout and DAC on) end with the same losses and weights as the
steps through the detector's full forward (every phrase encoded each step, masks computed)."""

import pytest
import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.concept_settings import ConceptPolicy
from samhq_train.model import load_checkpoint
from samhq_train.model.sam3 import VARIANTS
from samhq_train.model.sam3.concept.geometry import ExemplarPrompt
from samhq_train.training.concept.loaders import concept_loaders
from samhq_train.training.concept.module import ConceptTrainModule, trunk_maps
from samhq_train.training.concept.optimizer import concept_optimizer
from samhq_train.training.concept.phrase_features import PhraseFeatures

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

STEPS = 3
CONCEPT = VARIANTS["sam3_hq_demo"].concept


def tokenizer(files) -> ClipTokenizer:
    return ClipTokenizer(files["merges"], CONCEPT.context_length, CONCEPT.vocab_size)


def module_of(files, policy: str = "detector") -> ConceptTrainModule:
    torch.manual_seed(0)  # the HQ parts a sam3.pt-layout file lacks start from a random draw
    return ConceptTrainModule(load_checkpoint(files["checkpoint"]),
                              policy=ConceptPolicy(policy), tokenizer=tokenizer(files))


def full_forward(module: ConceptTrainModule, batch) -> dict:
    """The module's outputs as before the reuse: the detector's forward_train as it is called
    for inference parity (phrases encoded inside, masks computed)."""
    module.detector.train(module.model.training)  # its own flag decides DAC
    with torch.no_grad():
        maps = trunk_maps(module.model, batch.images)
    tokens = module.tokenizer(list(batch.texts))[batch.text_index]
    exemplars = ExemplarPrompt.of(  # the batch's (none here): as the module passes them
        len(batch.phrases), boxes=batch.exemplar_boxes, box_labels=batch.exemplar_labels,
        box_padding=batch.exemplar_padding)
    return module.detector.forward_train(maps, batch.image_index, tokens, exemplars)


def train_steps(module: ConceptTrainModule, batches, forward) -> list[float]:
    torch.manual_seed(0)  # dropout's draws
    module.model.train()
    optimizer, scheduler = concept_optimizer(module.model, len(batches), 1,
                                             module.optim_settings)
    losses = []
    for batch in batches:
        loss = module.losses(forward(module, batch), batch)["core_loss"]
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def batches(tmp_path_factory, concept_files):  # noqa: F811
    cfg = concept_cfg(tmp_path_factory.mktemp("phrases"), concept_files)
    train_loader, _ = concept_loaders(cfg.data, VARIANTS["sam3_hq_demo"].image_size, False)
    got = list(train_loader)
    return (got * STEPS)[:STEPS]


@pytest.fixture
def one_thread():
    """Bit-for-bit comparisons of two runs: with two threads a convolution's weight gradient
    sums in a varying order (a 6e-11 difference in one of ten runs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_steps_equal_the_full_forward(concept_files, batches, one_thread):  # noqa: F811
    reused, full = module_of(concept_files), module_of(concept_files)
    calls = []
    encoder = reused.phrase_features.encoder
    encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    got = train_steps(reused, batches, ConceptTrainModule.outputs)
    want = train_steps(full, batches, full_forward)
    assert got == want  # bit for bit
    state, expected = reused.model.state_dict(), full.model.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in state)
    phrases = {text for batch in batches for text in batch.texts}
    assert sum(calls) == len(phrases)  # each phrase encoded once
    assert "pred_masks" not in ConceptTrainModule.outputs(reused, batches[0])


def test_phrases_seen_later_are_encoded_alone(concept_files):  # noqa: F811
    module = module_of(concept_files)
    features = module.phrase_features
    tokens = module.tokenizer(["ring", "tree", "wheel", "blob with holes"])
    first = features(tokens[[0, 1, 0]])
    later = features(tokens[[3, 2, 1, 3]])
    assert len(features.rows) == 4
    direct = features.encoder(tokens)
    for got, rows in ((first, [0, 1, 0]), (later, [3, 2, 1, 3])):
        assert torch.equal(got[1], direct.padding_mask[rows])
        torch.testing.assert_close(got[0], direct.features[rows], rtol=0, atol=1e-6)


def test_a_trained_text_encoder_is_not_kept(concept_files):  # noqa: F811
    module = module_of(concept_files, "full")
    assert not module.phrase_features.frozen
    with pytest.raises(ValueError, match="text encoder trains"):
        module.phrase_features(module.tokenizer(["ring"]))
    frozen = module_of(concept_files)
    assert frozen.phrase_features.frozen
    assert not isinstance(frozen.phrase_features, torch.nn.Module)  # no state_dict entry
    assert PhraseFeatures(frozen.detector.backbone.language_backbone).frozen
