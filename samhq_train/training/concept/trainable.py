"""What a concept fine-tune of SAM 3 trains ("policies"), on a Sam3HQ whose detector is attached.

A loaded Sam3HQ only carries the detector's tensors (buffers, model/sam3/carried.py);
`attach_detector` makes them the parameters of ConceptDetector modules registered at the same
paths (so the model's names stay sam3.pt's, detector.*, and its state_dict is unchanged) and
returns that detector, whose modules are the model's. The policies (concept.policy; its record
ConceptPolicy and the `trains` rule live in samhq_train/concept_settings.py):

  full           Meta's recipe: the whole detector, the ViT trunk and the text encoder included.
                 Meta's Sam3Image also holds the interactive path (its sam2 neck,
                 detector.backbone.vision_backbone.sam2_convs, and the tracker's prompt encoder,
                 mask decoder and memory parts, here tracker.*) in its optimiser, but its
                 detection forward gives them no gradient, so AdamW never moves them (no step, no
                 weight decay); they are frozen here, which changes no value and spares DDP the
                 search for unused parameters in them.
  detector       the ViT trunk and the text encoder frozen, the rest of the detector trains (its
                 neck, geometry encoder, fusion encoder, decoder, segmentation head, scoring): a
                 run may cache the trunk's maps and the text features.
  detector+lora  as detector, plus LoRA adapters (model/lora.py) on the trunk's blocks (the
                 family's presets attn / attn+mlp): the trunk runs with autograd (no trunk-map
                 cache), the text features may still be cached.

No policy's parameters all get a gradient every step (Meta's detector has parts its forward
never reads: the neck's dropped coarsest level, the text encoder's pooled projection, the pixel
decoder's last stage; and parts a batch may not reach: the exemplar box / point projections on
text-only queries, the mask head without a mask loss): DDP needs find_unused_parameters, as
Meta's recipe sets it.
"""

from __future__ import annotations

from torch import nn

from samhq_train.concept_settings import ConceptPolicy
from samhq_train.model.lora import add_lora, is_lora_key
from samhq_train.model.sam3.concept.decoder import Decoder
from samhq_train.model.sam3.concept.detector import ConceptDetector, concept_detector


def as_concept_policy(policy: str | ConceptPolicy) -> ConceptPolicy:
    return policy if isinstance(policy, ConceptPolicy) else ConceptPolicy(policy)


def is_attached(model: nn.Module) -> bool:
    return isinstance(getattr(model.detector, "transformer", None), nn.Module) and isinstance(
        getattr(model.detector.transformer, "decoder", None), Decoder)


def attach_detector(model: nn.Module) -> ConceptDetector:
    """Make a loaded Sam3HQ's carried detector tensors parameters at their own names (same
    storage; state_dict keys and values unchanged); returns the ConceptDetector whose modules
    are the model's (again the same ones when already attached). NoDetectorError (a UserError)
    for a model without the detector's tensors."""
    detector = concept_detector(model)
    theirs = model.detector
    ours_backbone = detector.backbone
    attached = is_attached(model)
    pairs = [(theirs.backbone.vision_backbone, ours_backbone.vision_backbone, "convs"),
             (theirs.backbone, ours_backbone, "language_backbone")]
    pairs += [(theirs, detector, name) for name, _ in detector.named_children()
              if name != "backbone"]
    for model_side, detector_side, name in pairs:
        if attached:
            setattr(detector_side, name, getattr(model_side, name))
        else:
            setattr(model_side, name, getattr(detector_side, name))
    detector.train(model.training)
    return detector


def apply_concept_policy(model: nn.Module, policy: str | ConceptPolicy) -> nn.Module:
    """Set requires_grad to exactly the policy's parameters (the detector must be attached)."""
    policy = as_concept_policy(policy)
    if not is_attached(model):
        raise ValueError("attach the detector first (attach_detector): its tensors are carried "
                         "buffers until then")
    for name, param in model.named_parameters():
        param.requires_grad_(policy.trains(name))
    return model


def prepare_concept_model(model: nn.Module, policy: str | ConceptPolicy) -> ConceptDetector:
    """Attach the detector, add the trunk's LoRA adapters for detector+lora (once), set
    requires_grad; returns the attached ConceptDetector. A ValueError naming concept.lora.* when
    the LoRA settings do not fit the model."""
    policy = as_concept_policy(policy)
    detector = attach_detector(model)
    if policy.name == "detector+lora" and not any(
            is_lora_key(n) for n, _ in model.named_parameters()):
        s = policy.lora
        try:
            add_lora(model, s.targets, s.rank, s.alpha, s.dropout)
        except ValueError as err:
            raise ValueError(f"concept.lora: {err}") from None
    apply_concept_policy(model, policy)
    return detector


def trained_parameter_names(model: nn.Module, policy: str | ConceptPolicy) -> list[str]:
    policy = as_concept_policy(policy)
    return [name for name, _ in model.named_parameters() if policy.trains(name)]
