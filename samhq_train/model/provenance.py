"""Provenance: what rebuilds the frozen rest of a trained model, and what a run's checkpoint
holds. One typed record that training writes into its checkpoints (under formats/lightning.py's
PROVENANCE_KEY), a delta export keeps in its metadata, and inspect / checkpoint loading read back.

An image run's record names its base (file and sha256, or the random base's seed) and policy;
a concept or video run's checkpoint holds the whole model, so its record says only that
(`whole_model`) and whether the HQ parts it holds are trained weights (`trained_hq`)."""

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Provenance:
    variant: str | None = None
    base_checkpoint: str | None = None  # the base file the run started from, or None
    base_sha256: str | None = None  # its sha256, checked before it is used again
    seed: int | None = None  # the seed of a random base (the demo), when there is no base file
    policy: str = "hq"  # what the run trains (model/policy.py)
    policy_settings: dict | None = None  # TrainablePolicy.to_dict(): rebuilds LoRA adapters
    whole_model: bool = False  # the file holds every tensor (a concept / video run's checkpoint)
    # whether the HQ parts the file holds are trained weights: False when the run started from
    # weights without them (Meta's) and never trained them; None: not recorded (an image run's
    # record: every policy trains them; a whole-model checkpoint written before this field:
    # taken as trained, docs/checkpoints.md)
    trained_hq: bool | None = None

    def to_dict(self) -> dict:
        """The record as a file keeps it; `whole_model` and `trained_hq` only where they say
        something (an image run's record stays what earlier versions, which refuse a field they
        do not know, read)."""
        record = asdict(self)
        if not self.whole_model:
            del record["whole_model"]
        if self.trained_hq is None:
            del record["trained_hq"]
        return record

    @classmethod
    def from_dict(cls, data: dict | None) -> "Provenance":
        """From a checkpoint's record; keys it does not know are ignored (a file's record is
        checked first: formats/errors.recorded_provenance refuses them), missing ones default
        (records written before `policy` existed were all `hq`; before `whole_model` and
        `trained_hq`, only image runs wrote one)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


def whole_model_record(trained_hq: bool) -> "Provenance":
    """The record of a concept or video run's checkpoint: the whole model, and whether the HQ
    parts in it are trained weights."""
    return Provenance(whole_model=True, trained_hq=trained_hq)
