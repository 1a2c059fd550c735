"""Provenance: what rebuilds the frozen rest of a trained model. One typed record that training
writes into its checkpoints (under formats/lightning.py's PROVENANCE_KEY), a delta export keeps
in its metadata, and inspect / checkpoint loading read back."""

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Provenance:
    variant: str | None = None
    base_checkpoint: str | None = None  # the base file the run started from, or None
    base_sha256: str | None = None  # its sha256, checked before it is used again
    seed: int | None = None  # the seed of a random base (the demo), when there is no base file
    policy: str = "hq"  # what the run trains (model/policy.py)
    policy_settings: dict | None = None  # TrainablePolicy.to_dict(): rebuilds LoRA adapters

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Provenance":
        """From a checkpoint's record; keys it does not know are ignored (a file's record is
        checked first: formats/errors.recorded_provenance refuses them), missing ones default
        (records written before `policy` existed were all `hq`)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})
