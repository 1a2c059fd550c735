"""Build a model from a checkpoint in any format, strictly: the file is inspected once, read
once, and must hold exactly the tensors its format's record says (names and shapes)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import NamedTuple

from torch import nn

from samhq_train.files import file_sha256
from samhq_train.finite import describe_non_finite, non_finite_names

from ..policy import as_policy, prepare_model
from ..provenance import Provenance
from ..registry import (
    VARIANTS,
    build_model,
    canonical_variant,
    family_of_model,
    family_of_state,
    family_of_variant,
    official_file,
)
from .base import CheckpointError, FormatRecord, State, Use, detect_variant
from .inspection import inspect
from .trained_hq import untrained_hq


class LoadedCheckpoint(NamedTuple):
    """A model built from a checkpoint, with what the one read of the file told: the format it was
    read as and its record (what read_provenance gives for that file)."""

    model: nn.Module
    format: str | None  # None: not read from a file (evaluation's random demo backbone)
    provenance: Provenance


# how a message names load_checkpoint's options: its keyword arguments and Hydra's keys by
# default; a command passes its own flags to OptionHint.worded
PYTHON_WORDS = {
    "variant_option": "variant=",
    "format_option": "format=",
    "base_option": "base_checkpoint=",
    "use_variant": "model={found} (or model.variant={found})",
}


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class OptionHint(CheckpointError):
    """A CheckpointError whose fix names one of load_checkpoint's options ({variant_option},
    {format_option}, {base_option}, {use_variant} in `template`)."""

    def __init__(self, template: str, **values):
        self.template, self.values = template, values
        super().__init__(self._text(PYTHON_WORDS))

    def _text(self, words: dict[str, str]) -> str:
        known = _KeepUnknown(self.values)
        filled = {k: v.format_map(known) for k, v in {**PYTHON_WORDS, **words}.items()}
        return self.template.format(**filled, **self.values)

    def __reduce__(self):  # pickled (e.g. between DDP processes) as the message it shows
        return CheckpointError, (str(self),)

    def worded(self, words: dict[str, str]) -> CheckpointError:
        """The same message, `words` naming the options ({"variant_option": "--variant ", ...})."""
        return CheckpointError(self._text(words))


def other_family_refusal(setting: str, path, found: str, family: str, needs: str
                         ) -> CheckpointError:
    """The one wording of a file whose model family a command does not take (`needs`: what the
    command takes and what to give), in place of the loader's hint to use the file's own model=,
    which that command would refuse. `setting`: a command's flag (--checkpoint X) or a config
    key (model.checkpoint=X), each written as the user writes it."""
    given = f"{setting} {path}" if setting.startswith("-") else f"{setting}={path}"
    return CheckpointError(f"{given} holds a {found} model ({family} family): {needs}")


@contextlib.contextmanager
def taking_families(families: Collection[str], setting: str, needs: str) -> Iterator[None]:
    """Around loading in a command that takes only `families`' models: the loader's hint to use
    another model (an OptionHint naming a family outside them) is other_family_refusal's line."""
    try:
        yield
    except OptionHint as err:
        family = err.values.get("family")
        if family is None or family in families:
            raise
        raise other_family_refusal(setting, err.values["path"], err.values["found"], family,
                                   needs) from None


def policy_of(provenance: Provenance):
    """The TrainablePolicy a record describes."""
    return as_policy(provenance.policy_settings or provenance.policy)


def read_state_dict(path: str | os.PathLike, format: str | None = None) -> tuple[State, str]:
    """(state dict with official key names, format) of a checkpoint."""
    info = inspect(path, format)
    return info.read().state, info.format


def detect_format(path: str | os.PathLike) -> str:
    return inspect(path).format


def read_provenance(path: str | os.PathLike, format: str | None = None) -> Provenance:
    """What a training checkpoint or a delta file records (variant, base, policy); an empty
    record for the other formats (they hold a whole model)."""
    return inspect(path, format).provenance


def build_sam_hq(
    variant: str,
    checkpoint: str | os.PathLike | None = None,
    *,
    seed: int | None = None,
    format: str | None = None,
    policy="hq",
) -> nn.Module:
    """Build a variant in eval mode with exactly `policy`'s parameters trainable (a policy name,
    TrainablePolicy or its dict; hq+lora adds the LoRA adapters after the checkpoint is loaded).

    Without a checkpoint the weights are PyTorch's default init (drawn under `seed` when given).
    With one, it is loaded strictly (any format; an official SAM file leaves the HQ parts at
    their fresh init).
    """
    model = build_model(variant, seed=seed)
    if checkpoint is not None:
        load_weights_into(model, checkpoint, variant=canonical_variant(variant), format=format)
    return prepare_model(model, policy)


def load_weights_into(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    variant: str | None = None,
    format: str | None = None,
) -> str:
    """Load a checkpoint into a built model, strictly; returns the format read.

    An official SAM file fills everything but the HQ parts; an HQ-only file fills only those.
    """
    info = inspect(path, format)
    apply_state(model, info.read().state, info.record, path, variant)
    return info.format


def apply_state(
    model: nn.Module, state: State, record: FormatRecord, path, variant: str | None, policy="hq"
) -> None:
    """Load `state` into `model` after checking it holds exactly what `record` says."""
    variant = canonical_variant(variant) if variant is not None else None
    check_variant(path, detect_variant(state), variant)
    adopt = family_of_model(model).adopt_state
    if adopt is not None:
        adopt(model, state)
    expected = record.expected_keys(model, policy)
    check_keys(path, record.name, expected, set(record.optional_keys(model)), state)
    check_finite(path, state)
    model.load_state_dict(state, strict=False)


def check_variant(path, found: str | None, asked: str | None) -> None:
    """A file of one model (`found`: detected from its tensors, or recorded in it) asked to be
    another variant is refused, naming both; either unknown (None) passes."""
    if asked is None or found is None:
        return
    asked = canonical_variant(asked)
    if not _same_model(found, asked):
        raise OptionHint(
            "{path} holds a {found} model ({family} family) but variant {asked} was asked: use "
            "{use_variant}, or give a {asked} checkpoint",
            path=path, found=found, family=family_of_variant(found).name, asked=asked,
        )


def _same_model(found: str, variant: str) -> bool:
    """Whether a file detected as `found` fits `variant` (the same variant, or the same family's
    variant with the same base apart from the HQ design)."""
    family = family_of_variant(found)
    return found == variant or (
        family is family_of_variant(variant) and family.same_base(found, variant)
    )


def check_keys(path, format: str, expected: State, optional: set[str], state: State) -> None:
    """One line listing missing, unexpected and wrongly shaped tensors, if any."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected) - optional)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys, first: {missing[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, first: {unexpected[:5]}")
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} tensors of the wrong shape, first: {wrong_shape[:3]}")
    # another float width is cast on loading (a half-precision copy loads); integers or booleans
    # where the model has floats (or the reverse) are another file's tensors
    wrong_kind = [
        f"{k}: file {state[k].dtype} vs model {expected[k].dtype}"
        for k in sorted(set(state) & set(expected))
        if state[k].is_floating_point() != expected[k].is_floating_point()
    ]
    if wrong_kind:
        problems.append(f"{len(wrong_kind)} tensors of the wrong dtype, first: {wrong_kind[:3]}")
    if problems:
        raise OptionHint(
            "{path} (read as {read_as}) does not fit the model: {problems}. Check the variant and "
            "the format (pass {format_option}<name> to override detection).",
            path=path, read_as=format, problems="; ".join(problems),
        )


def check_finite(path, state: State) -> None:
    """Weights with a NaN or an inf are never loaded (nor written: finite.py), naming the first."""
    bad = non_finite_names(state)
    if bad:
        raise CheckpointError(
            f"{path} holds weights that are not finite: {describe_non_finite(bad, state)}; the "
            "file is damaged or its run diverged: copy it again, or use an earlier checkpoint"
        )


def load_checkpoint(
    path: str | os.PathLike,
    variant: str | None = None,
    format: str | None = None,
    base_checkpoint: str | os.PathLike | None = None,
):
    """Build a model from a checkpoint. An HQ-only file needs `base_checkpoint` (SAM or SAM-HQ)."""
    return load_checkpoint_with_provenance(path, variant, format, base_checkpoint).model


def load_checkpoint_with_provenance(
    path: str | os.PathLike,
    variant: str | None = None,
    format: str | None = None,
    base_checkpoint: str | os.PathLike | None = None,
) -> LoadedCheckpoint:
    """load_checkpoint, plus the format and the Provenance from the same read (a training
    checkpoint is big: it is read once)."""
    info = inspect(path, format, use=Use.EVALUATE)
    if base_checkpoint is not None and not (info.record.records_base or info.record.needs_base):
        raise OptionHint(
            "{path} holds a whole model, so the base {base} would be ignored: leave out "
            "{base_option}(a base goes under an HQ-only or delta file, or a training checkpoint "
            "whose base moved)",
            path=path, base=base_checkpoint,
        )
    read = info.read()
    state, provenance, record = read.state, read.provenance, info.record
    # what the file records (a training checkpoint, a delta file: their tensors alone may not tell)
    check_variant(path, provenance.variant, variant)
    variant = variant or provenance.variant or detect_variant(state) or info.variant
    if variant is None and family_of_state(state) is None:
        raise CheckpointError(
            f"{path} holds no SAM, SAM 2.1 or SAM 3 weights under their official names (its "
            f"first keys: {sorted(state)[:3]}): save the SAM model's own state_dict, without "
            "the name a wrapper module kept it under"
        )
    if variant is None:
        raise OptionHint(
            "cannot tell the model variant of {path}; pass {variant_option}<name>, one of {names}",
            path=path, names=sorted(VARIANTS),
        )
    policy = policy_of(provenance)
    if record.records_base:
        model = _build_recorded_base(Path(path), provenance, variant, base_checkpoint)
    elif record.needs_base:
        check_base_given(path, base_checkpoint, record.holds, variant)
        model = build_on_base(variant, base_checkpoint, policy=policy)
    else:
        model = build_sam_hq(variant)
    apply_state(model, state, record, path, variant, policy)
    model.untrained_hq = untrained_hq(path, state, provenance)
    return LoadedCheckpoint(model, info.format, provenance)


def check_base_given(
    path, base_checkpoint, holds: str = "the HQ parameters", variant: str | None = None
) -> None:
    """The one rule for files that hold part of a model (`holds`: what, in words): they make one
    only with a base (refused in partial_file_refusal's words)."""
    if base_checkpoint is None:
        raise partial_file_refusal(path, holds, variant)


def partial_file_refusal(
    path, holds: str, variant: str | None, *, given_as_base: str | None = None
) -> OptionHint:
    """The one wording of a model asked of a file that holds only part of one (`holds`: what, in
    words) with no whole model under it: a checkpoint given without a base, or a partial file
    given as the base (`given_as_base`: its format). Both name what a base is: the variant's
    official file where it has one, or a SAM-HQ file of the variant."""
    official = official_file(variant) if variant else None
    base = f"the official {official}" if official else "the SAM file"
    if given_as_base is None:
        template = "{path} holds only {holds}: also give the base it was trained on"
    else:
        template = (
            "{path} (the base given) is a {format} file, which holds only {holds}, not a whole "
            "model: give a whole one as the base"
        )
    return OptionHint(
        template + " ({base_option}<file>), {base} or a SAM-HQ file of {variant}",
        path=path, holds=holds, format=given_as_base, base=base,
        variant=variant or "the same variant",
    )


def _build_recorded_base(path: Path, meta: Provenance, variant: str, base_checkpoint) -> nn.Module:
    """The frozen model a training checkpoint was trained on: its base file, or its random seed."""
    recorded = meta.base_checkpoint
    if base_checkpoint is None and recorded is None:
        if meta.seed is None:
            raise OptionHint(
                "{path} records neither a base checkpoint nor a seed: pass {base_option}the "
                "official SAM file it was trained from",
                path=path,
            )
        return build_sam_hq(variant, seed=meta.seed, policy=policy_of(meta))
    base = Path(base_checkpoint or recorded)
    if not base.exists():
        raise OptionHint(
            "{path} was trained on base checkpoint {base}, which is not there: pass "
            "{base_option}its new location",
            path=path, base=base,
        )
    if meta.base_sha256 and base_checkpoint is None and file_sha256(base) != meta.base_sha256:
        raise OptionHint(
            "{base} is not the file {path} was trained on (sha256 differs): pass "
            "{base_option}the right file, or that one explicitly to use it anyway",
            path=path, base=base,
        )
    return build_on_base(variant, base, seed=meta.seed, policy=policy_of(meta))


def build_on_base(variant: str, base, *, seed: int | None = None, policy="hq") -> nn.Module:
    """build_sam_hq from the base file of a checkpoint that holds part of a model. The base must
    hold a whole SAM / SAM-HQ model: another partial file (HQ-only, delta, a training .ckpt)
    would leave the frozen SAM at its random init."""
    info = inspect(base)
    if info.record.needs_base:
        holds = info.record.holds or "what its run trained"
        raise partial_file_refusal(base, holds, variant, given_as_base=info.format)
    model = build_model(variant, seed=seed)
    apply_state(model, info.read().state, info.record, base, canonical_variant(variant))
    return prepare_model(model, policy)
