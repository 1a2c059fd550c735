"""Activation checkpointing of the concept detector (ConceptDetector.grad_checkpointing, Meta's
use_act_checkpoint in training) changes memory, not values: on the random miniature,
forward_train's outputs and the gradients of every parameter and of the trunk map with it on equal
those with it off (fp32, and under bf16 autocast: the recompute replays the autocast it ran
under), with dropout 0 and 0.1 (same seed), text-only and exemplar-box queries, a loss with and
without the masks. Each switched part keeps fewer tensors for backward
(autograd's saved tensors), in train mode only; model.grad_checkpointing turns it on in a run."""

import pytest
import torch

from samhq_train.errors import UserError
from samhq_train.model.sam3.concept.geometry import ExemplarPrompt
from samhq_train.train import train
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

from .test_train_forward_dropout import batch, detector

REL_TOL = 1e-6  # max |on - off| / max |off| per tensor (measured: 0, bit-equal)
PARTS = ("backbone.language_backbone.encoder", "geometry_encoder", "transformer.encoder",
         "transformer.decoder", "segmentation_head")
# the trunk map's side under bf16 (the miniature's is 16): bf16 convolutions, emulated on a CPU
# without bf16, at 4x the side in the segmentation head cost most of the bf16 case
BF16_GRID = 8
MASK_KEYS = ("pred_masks", "pred_masks_o2m", "semantic_seg")


def exemplars() -> ExemplarPrompt:
    """Query 0: an example and a counter-example box; query 1: none; query 2: one."""
    boxes = torch.tensor([[[0.4, 0.5, 0.3, 0.2], [0.7, 0.3, 0.2, 0.4]],
                          [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
                          [[0.25, 0.6, 0.4, 0.5], [0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[1, 0], [1, 1], [1, 1]])
    padding = torch.tensor([[False, False], [True, True], [False, True]])
    return ExemplarPrompt.of(3, boxes=boxes, box_labels=labels, box_padding=padding)


def flat(out: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    items = {}
    for key, value in out.items():
        if key == "aux_outputs":
            for i, aux in enumerate(value):
                items.update(flat(aux, f"{prefix}aux_outputs.{i}."))
        else:
            items[prefix + key] = value
    return items


def scalar(outputs: dict[str, torch.Tensor], with_masks: bool) -> torch.Tensor:
    """A fixed random weighting of the outputs (the masks' only with_masks)."""
    gen = torch.Generator().manual_seed(9)
    keys = [k for k in sorted(outputs) if with_masks or k.rsplit(".", 1)[-1] not in MASK_KEYS]
    return sum((outputs[k] * torch.randn(outputs[k].shape, generator=gen)).sum() for k in keys)


def outputs_and_gradients(model, recompute: bool, prompt, with_masks: bool, bf16: bool = False):
    model.grad_checkpointing = recompute
    model.zero_grad(set_to_none=True)
    trunk, image_ids, ids = batch(requires_grad=True)
    if bf16:  # a corner of the trunk map: the same layers, a quarter of the emulated bf16 work
        trunk = trunk.detach()[..., :BF16_GRID, :BF16_GRID].contiguous().requires_grad_(True)
    torch.manual_seed(11)  # the dropout masks
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outputs = flat(model.forward_train(trunk, image_ids, ids, prompt))
    assert (outputs["pred_logits"].dtype == torch.bfloat16) == bf16
    scalar(outputs, with_masks).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads["trunk_maps"] = trunk.grad
    return {k: v.detach() for k, v in outputs.items()}, grads


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).abs().max() / want.abs().max().clamp(min=1e-12)).item()


# each setting's values once, with dropout where it can (a full grid: 2x the time, same result)
@pytest.mark.parametrize("dropout, with_exemplars, with_masks, bf16",
                         [(0.1, False, True, False), (0.1, True, False, False),
                          (0.0, True, True, False), (0.1, True, True, True)])
def test_outputs_and_gradients_equal_without_recomputation(dropout, with_exemplars, with_masks,
                                                           bf16):
    model = detector(dropout=dropout).train()
    prompt = exemplars() if with_exemplars else None
    want, want_grads = outputs_and_gradients(model, False, prompt, with_masks, bf16)
    got, got_grads = outputs_and_gradients(model, True, prompt, with_masks, bf16)
    assert sorted(got) == sorted(want) and "pred_logits_o2m" in got
    assert all(got[k].dtype == want[k].dtype for k in want)
    errors = {k: relative_error(got[k].float(), want[k].float()) for k in want}
    assert max(errors.values()) <= REL_TOL, errors
    assert sorted(got_grads) == sorted(want_grads)
    unused = {k for k, g in want_grads.items() if g is None}
    assert unused == {k for k, g in got_grads.items() if g is None}
    # the segmentation head's parameters get a gradient from the masks only
    assert ("segmentation_head.mask_predictor.mask_embed.layers.0.weight" in unused) != with_masks
    errors = {k: relative_error(got_grads[k], want_grads[k]) for k in want_grads if k not in unused}
    assert max(errors.values()) <= REL_TOL, max(errors.items(), key=lambda kv: kv[1])
    assert want_grads["trunk_maps"].abs().max() > 0
    if dropout:  # the dropout acted: another seed gives other outputs
        torch.manual_seed(12)
        with torch.no_grad():
            other = model.forward_train(*batch(), prompt)
        assert not torch.equal(other["pred_logits"], want["pred_logits"])


def saved_bytes(model, *, train: bool) -> int:
    """Bytes of the distinct storages that autograd keeps for backward from one forward_train
    (the tensors of the checkpointed parts are dropped and recomputed)."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train(train)
    trunk, image_ids, ids = batch(requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.forward_train(trunk, image_ids, ids, exemplars())
    return sum(storages.values())


def test_each_part_keeps_fewer_tensors_for_backward_in_train_mode_only():
    model = detector(dropout=0.0)
    model.grad_checkpointing = False
    assert not model.grad_checkpointing
    off = saved_bytes(model, train=True)
    for part in PARTS:
        model.get_submodule(part).grad_checkpointing = True
        assert saved_bytes(model, train=True) < off, part
        model.get_submodule(part).grad_checkpointing = False
    model.grad_checkpointing = True
    assert all(model.get_submodule(part).grad_checkpointing for part in PARTS)
    on = saved_bytes(model, train=True)
    assert on < off / 2, (on, off)
    model.grad_checkpointing = False
    evaluated = saved_bytes(model, train=False)
    model.grad_checkpointing = True
    assert saved_bytes(model, train=False) == evaluated  # Meta's rule: train mode only


def test_model_grad_checkpointing_switches_the_trunk_and_the_detector(tmp_path, concept_files):  # noqa: F811
    _, objects = train(concept_cfg(tmp_path, concept_files, "model.grad_checkpointing=true",
                                   "concept.policy=full", "trainer.limit_train_batches=1",
                                   "trainer.limit_val_batches=0"))
    assert objects["module"].detector.grad_checkpointing
    assert objects["model"].image_encoder.grad_checkpointing
    with pytest.raises(UserError, match="model.grad_checkpointing") as err:
        train(concept_cfg(tmp_path, concept_files, "model.grad_checkpointing=maybe"))
    assert "\n" not in str(err.value)
