"""ImageFeatures: what a family's image encoder produces and its decoder consumes.

Everything between the two (the shared evaluation step, the predictor, ONNX export, the embedding
cache) handles features through the generic operations here and never reads a field by name, so a
new family only defines a subclass with its own tensor fields.
"""

from dataclasses import dataclass, fields
from typing import TypeVar

import torch

F = TypeVar("F", bound="ImageFeatures")


@dataclass(frozen=True)
class ImageFeatures:
    """Base of the per-family feature records: every field is a B x ... tensor (batch first)."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """Field name -> tensor, in declaration order (the order ONNX inputs and cache files use)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_tensors(cls: type[F], tensors: dict[str, torch.Tensor]) -> F:
        missing = set(cls.field_names()) - set(tensors)
        if missing:
            raise KeyError(f"{cls.__name__} needs the tensors {sorted(missing)}")
        return cls(**{name: tensors[name] for name in cls.field_names()})

    @property
    def batch_size(self) -> int:
        return next(iter(self.tensors().values())).shape[0]

    def map(self: F, fn) -> F:
        """A record of the same type with fn applied to each tensor."""
        return type(self)(**{k: fn(v) for k, v in self.tensors().items()})

    def to(self: F, *args, **kwargs) -> F:
        return self.map(lambda t: t.to(*args, **kwargs))

    def select(self: F, index: int | slice | torch.Tensor) -> F:
        """Rows of the batch (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self.map(lambda t: t[index])

    @classmethod
    def cat(cls: type[F], records: list[F]) -> F:
        if not records:
            raise ValueError("cannot concatenate an empty list of features")
        return cls(**{k: torch.cat([r.tensors()[k] for r in records]) for k in cls.field_names()})


@dataclass(frozen=True)
class SamFeatures(ImageFeatures):
    """SAM 1 family (ViT and TinyViT encoders)."""

    embedding: torch.Tensor  # B x C x S/16 x S/16, what the two-way transformer attends to
    early: torch.Tensor  # B x S/16 x S/16 x C_vit, the early encoder feature SAM-HQ fuses in
