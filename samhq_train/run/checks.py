"""samhq-train's check stage: everything a training run can refuse before the training stack
(Lightning, torchmetrics, albumentations: seconds of CPU) is imported. cli/train.py runs
check_inputs before importing samhq_train.train, and train(cfg) runs it when called directly.
The order (docs/training.md): the config's types and ranges, the trainer's keys, the loggers
(package, W&B login), the data's root, set folders and annotation files (data/roots.py:
check_data_sets; nothing listed or decoded), a resumed run's checkpoint (refused when that
run has finished: check_resume_trains), the outputs, the resumed run's record against this
config, the model's weights; a video or concept run checks the config, the trainer's keys, its
data (check_video_data: the sequences' folders; data/concept_files.py: the COCO jsons and image
folders), its video.* / concept.* keys (training/{video,concept}/config_checks.py), a
resumed run's checkpoint (check_resume_trains; a run of its kind and family:
check_resumed_run_kind), its outputs and its model.checkpoint's family (check_model_family).
The images themselves are read later (train.build_data: the validation files)."""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect as pyinspect
from pathlib import Path

import hydra

from samhq_train.config_check import (
    ConfigError,
    SetupError,
    check_config,
    check_resume_matches,
)
from samhq_train.data.concept_files import check_concept_data
from samhq_train.data.moving_shapes import VIDEO_DEMO
from samhq_train.data.roots import check_data_sets, plain_data_config
from samhq_train.data.video_clips import SequenceListing, list_sequences
from samhq_train.data.write_once import check_generated_root
from samhq_train.inference.export import export_paths
from samhq_train.model import Inspection, Use, inspect, official_file
from samhq_train.model.formats import CheckpointError, other_family_refusal
from samhq_train.model.registry import family_of_state, family_of_variant
from samhq_train.output_check import OutputError, check_output_dir
from samhq_train.run.wandb_login import check_wandb_login
from samhq_train.training.concept.config_checks import check_concept_config
from samhq_train.training.export_names import concept_export_name, video_export_name
from samhq_train.training.loop_progress import training_progress
from samhq_train.training.run_families import (
    CONCEPT_RUN_FAMILIES,
    CONCEPT_RUN_NEEDS,
    VIDEO_RUN_FAMILIES,
    VIDEO_RUN_NEEDS,
)
from samhq_train.training.video.config_checks import check_video_config

LOGGER_PACKAGES = {  # logger class -> (module it needs, the pip extra that installs it)
    "TensorBoardLogger": ("tensorboard", "tensorboard"),
    "WandbLogger": ("wandb", "wandb"),
}


def check_inputs(cfg) -> dict[str, SequenceListing]:
    """Every check made before any heavy work, in the order above; a UserError (ConfigError,
    SetupError, OutputError, CheckpointError) names the key or file and what to give. Returns
    a video run's listed roots (check_video_data), for its loaders; {} for other runs."""
    listed: dict[str, SequenceListing] = {}
    if cfg.get("video") is not None or cfg.get("concept") is not None:
        check_config(cfg)  # the keys it shares with image training (trainer.*: precision, ...)
        check_trainer_arguments(cfg)
        if cfg.get("video") is not None:
            listed = check_video_data(cfg.data)
            check_video_config(cfg)  # the video.* keys and data.* counts
        else:
            check_concept_data(cfg.data)
            check_concept_config(cfg)  # the concept.* keys, model.checkpoint, concept.bpe
        name = video_export_name if cfg.get("video") is not None else concept_export_name
        if cfg.get("ckpt_path"):
            check_resumed_run_kind(cfg, check_resume_trains(cfg, [name(cfg)]))
        check_outputs(cfg, [name(cfg)])
        check_model_family(cfg)
        return listed
    check_config(cfg)
    check_trainer_arguments(cfg)
    check_loggers(cfg)
    check_data_sets(plain_data_config(cfg.data), ("train_sets", "val_sets"))
    # before the outputs: a finished run's exports would block it; the file is read once
    resumed = check_resume_trains(cfg) if cfg.get("ckpt_path") else None
    check_outputs(cfg)
    if resumed is not None:
        check_resume_matches(resumed, cfg.model)  # its record, where it has one
        check_resumed_family(cfg, resumed)
    check_model_source(cfg.model)
    return listed


def check_video_data(data) -> dict[str, SequenceListing]:
    """A video run's data.root (and data.val_root) hold sequences long enough for its clips
    (video_clips.list_sequences: the folders listed, each sequence's first mask's header read),
    before the model is built; the demo's clips (data.moving_shapes) are written on first use.
    Returns the listings by key (data.root, data.val_root; none for the demo), which the run's
    loaders take rather than list a root of thousands of sequences again; they say the frames
    left out and the sequences skipped."""
    if not data.get("root"):
        raise ConfigError("data.root is not set: pass data.root=/path/to/clips (JPEGImages/ and "
                          "Annotations/ inside)")
    if data.get("moving_shapes"):
        check_video_demo_roots(data)
        return {}
    frames = data.get("num_frames")  # another value than a count: check_video_config's line
    whole = isinstance(frames, int) and not isinstance(frames, bool) and frames >= 1
    listed = {"data.root": list_sequences(_absolute(data.root), frames if whole else 1,
                                          "data.root")}
    if data.get("val_root"):
        listed["data.val_root"] = list_sequences(_absolute(data.val_root), 2, "data.val_root")
    return listed


def check_video_demo_roots(data) -> None:
    """The video demo (data.moving_shapes) writes its clips under data.root and data.val_root:
    a root holding files it did not write (the user's own clips) is refused, not written over
    (the writer's own rule: write_once.check_generated_root)."""
    for key in ("root", "val_root"):
        if data.get(key):
            check_generated_root(_absolute(data[key]), f"data.{key}", VIDEO_DEMO)


def check_model_family(cfg) -> None:
    """A video or concept run's model.checkpoint of a family it cannot train is refused as what
    it is (the loader would propose the file's own model=, which the run refuses too). A file
    that cannot be inspected is left to the loader, which words its problem."""
    checkpoint = cfg.model.get("checkpoint")
    if checkpoint is None:
        return
    if cfg.get("video") is not None:
        families, needs = VIDEO_RUN_FAMILIES, VIDEO_RUN_NEEDS
    else:
        families, needs = CONCEPT_RUN_FAMILIES, CONCEPT_RUN_NEEDS
    path = _absolute(checkpoint)
    try:
        info = inspect(path)
    except CheckpointError:
        return
    if info.family is not None and info.family not in families:
        raise other_family_refusal("model.checkpoint", path, info.variant or "SAM", info.family,
                                   needs)


def check_resumed_run_kind(cfg, resumed: Inspection) -> None:
    """A video or concept run resumes a checkpoint of its own kind of run: an image run's (format
    lightning: trained tensors over a recorded base; a video or concept run's is lightning_full,
    the whole model, whatever its record holds) or one of another model family is refused as
    what it is, not by Lightning's load_state_dict after the data and the model are built."""
    kind = "video fine-tuning" if cfg.get("video") is not None else "concept fine-tuning"
    path, recorded = resumed.path, resumed.provenance.variant
    if resumed.format == "lightning":
        model = f" (model={recorded})" if recorded is not None else ""
        raise CheckpointError(
            f"ckpt_path={path} is an image training run's checkpoint{model}: a "
            f"{kind} run resumes its own run's outputs/<run>/checkpoints/last.ckpt; to start "
            f"from what it trained, export it (samhq-export --checkpoint {path} --to sam_hq "
            "--out <folder>) and pass the exported file as model.checkpoint"
        )
    check_resumed_family(cfg, resumed)


def check_resumed_family(cfg, resumed: Inspection) -> None:
    """A resumed checkpoint whose tensors are another model family's than model= is refused,
    told by their key names (a concept or video run's checkpoint records no model)."""
    found = family_of_state(resumed.read().state)
    wanted = family_of_variant(cfg.model.variant)
    if found is not None and found is not wanted:
        raise CheckpointError(
            f"ckpt_path={resumed.path} holds a {found.name} model but model={cfg.model.variant} "
            f"is of the {wanted.name} family: resume with the model= of the run that wrote it, "
            "or start a new run without ckpt_path"
        )


def configured_loggers(cfg) -> dict:
    """logger name -> its config, for each logger the `logger` group sets."""
    return {
        name: logger_cfg
        for name, logger_cfg in (cfg.get("logger") or {}).items()
        if logger_cfg and "_target_" in logger_cfg
    }


def check_loggers(cfg) -> None:
    """Before the data and the model: one line naming the pip extra when a logger's package is
    missing, and one naming the ways to log in when logger=wandb has no W&B key (wandb_login)."""
    for name, logger_cfg in configured_loggers(cfg).items():
        cls = logger_cfg._target_.rsplit(".", 1)[-1]
        module, extra = LOGGER_PACKAGES.get(cls, (None, None))
        if module and importlib.util.find_spec(module) is None:
            raise SetupError(f"logger={name} needs the {module} package: pip install '.[{extra}]'")
    check_wandb_login(cfg)


def trainer_arguments() -> list[str]:
    """The argument names of Lightning's Trainer.__init__, read from its source file with ast:
    importing Lightning to ask inspect.signature costs seconds of CPU, which a refused command
    line should not pay. Lightning's own signature when its source cannot be read that way."""
    spec = importlib.util.find_spec("lightning")  # a top-level package: found, not imported
    source = Path(spec.origin).parent / "pytorch" / "trainer" / "trainer.py"
    if source.is_file():
        for node in ast.parse(source.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name == "Trainer":
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        args = item.args
                        return [a.arg for a in [*args.args, *args.kwonlyargs] if a.arg != "self"]
    import lightning as L

    return [n for n in pyinspect.signature(L.Trainer.__init__).parameters if n != "self"]


def check_trainer_arguments(cfg) -> None:
    """Before the data: one line for a trainer key that Lightning's Trainer does not take (a
    typo added with `+`, as Hydra's refusal of an unknown key suggests), not a TypeError after
    the data check."""
    keys = [key for key in cfg.get("trainer") or {} if key != "_target_"]
    accepted = trainer_arguments() if keys else []
    for key in keys:
        if key in accepted:
            continue
        close = difflib.get_close_matches(key, accepted, n=1)
        fix = (
            f"did you mean trainer.{close[0]}?"
            if close
            else "remove it (python train.py --cfg job shows the trainer's settings)"
        )
        raise ConfigError(f"trainer.{key}: Lightning's Trainer has no such argument; {fix}")


def end_of_run_exports(policy: str) -> tuple[str, ...]:
    """What a run exports: the trained tensors alone (HQ-only for policy hq, else the policy's
    delta) and the merged official-format sam_hq_<variant>.pth."""
    return ("hq_only", "sam_hq") if policy == "hq" else ("delta", "sam_hq")


def export_targets(cfg, export_names: list[str] | None = None) -> list[Path]:
    """The files the end of the run exports into paths.output_dir/export (none with export=false
    or train=false); `export_names`: a video or concept run's file, else the image policy's."""
    export_dir = Path(cfg.paths.output_dir) / "export"
    if not (cfg.get("export") and cfg.get("train", True)):  # train=false exports nothing
        return []
    if export_names is not None:
        return [export_dir / name for name in export_names]
    names = export_paths(export_dir, f"sam_hq_{cfg.model.variant}")
    return [names[t] for t in end_of_run_exports(str(cfg.model.get("policy", "hq")))]


def check_outputs(cfg, export_names: list[str] | None = None) -> None:
    """The output folder, that the end-of-run export files are free (export_targets) and that
    a run that does not resume finds no earlier run's checkpoints: refused before training
    rather than after it."""
    resumed_here = cfg.get("ckpt_path") and _resolved(cfg.ckpt_path).parent == _checkpoints(cfg)
    check_output_dir(
        Path(cfg.paths.output_dir) / "export",
        export_targets(cfg, export_names),
        create_parents=True,
        what="paths.output_dir",
        taken_hint="give another paths.output_dir, or export=false"
        + (" (the run that ckpt_path resumes exported them when it ended)" if resumed_here else ""),
    )
    check_no_earlier_checkpoints(cfg)


def check_no_earlier_checkpoints(cfg) -> None:
    """Lightning writes checkpoints/last.ckpt (and best.ckpt) over an earlier run's: a run that
    trains refuses an output folder that holds them, unless it resumes one of them."""
    if not cfg.get("train", True):
        return
    folder = _checkpoints(cfg)
    earlier = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not earlier:
        return
    resumed = cfg.get("ckpt_path")
    if resumed and _resolved(resumed).parent == folder:  # `..`, a link: the same one
        return
    names = [p.name for p in earlier]
    resume = folder / ("last.ckpt" if "last.ckpt" in names else names[0])
    raise OutputError(
        f"{folder} holds an earlier run's checkpoints ({', '.join(names)}), which this run "
        f"would write over: resume it with ckpt_path={resume}, or give another paths.output_dir"
        + (f" (ckpt_path={resumed} is another folder's)" if resumed else "")
    )


def _absolute(path) -> Path:
    """A setting's path as given, made absolute (Hydra's original working directory): the path
    a message names, as the user wrote it, links kept."""
    return Path(hydra.utils.to_absolute_path(str(path)))


def _resolved(path) -> Path:
    """_absolute with links and `..` resolved: for telling whether two paths are one folder."""
    return _absolute(path).resolve()


def _checkpoints(cfg) -> Path:
    """This run's checkpoints folder, resolved."""
    return _resolved(Path(str(cfg.paths.output_dir)) / "checkpoints")


def check_resume_checkpoint(path: str | Path):
    """`path`'s Inspection if it is a training checkpoint Lightning can resume from (inspect:
    Use.RESUME); else CheckpointError with one line naming the file, what it is and what to give
    instead."""
    return inspect(path, use=Use.RESUME, setting="ckpt_path")


def _limits(trainer_cfg) -> tuple[int, int]:
    """(max_epochs, max_steps) as Lightning's Trainer sets them (-1: no limit; max_epochs null:
    1000 without a step limit)."""
    max_steps = trainer_cfg.get("max_steps")
    max_steps = -1 if max_steps is None else int(max_steps)
    max_epochs = trainer_cfg.get("max_epochs")
    if max_epochs is None:
        return (1000 if max_steps == -1 else -1), max_steps
    return int(max_epochs), max_steps


def check_resume_trains(cfg, export_names: list[str] | None = None) -> Inspection:
    """ckpt_path's Inspection (what check_resume_matches compares: the file is read once) if it
    is a training checkpoint to resume from (check_resume_checkpoint) whose run still has
    training to do under this config's trainer.max_epochs / max_steps, or that train=false
    validates. The end of a finished run is refused (Lightning would validate and
    stop, having trained nothing), naming the limit to raise and, when that run's exports are
    in paths.output_dir, a new folder; `export_names`: as export_targets takes them."""
    path = _absolute(cfg.ckpt_path)
    resumed = check_resume_checkpoint(path)
    held = resumed.held
    progress = training_progress(held) if isinstance(held, dict) else None
    if progress is None or progress[2] or not cfg.get("train", True):  # train=false validates it
        return resumed  # unknown counters, or a validation to run again: it resumes
    epochs, steps, _ = progress
    max_epochs, max_steps = _limits(cfg.get("trainer") or {})
    if max_steps != -1 and steps >= max_steps:
        done = f"has trained {steps} step{'s' * (steps != 1)} (trainer.max_steps={max_steps})"
        fix = f"raise trainer.max_steps above {steps}"
    elif max_epochs != -1 and epochs >= max_epochs:
        done = f"has trained {epochs} epoch{'s' * (epochs != 1)} (trainer.max_epochs={max_epochs})"
        fix = f"raise trainer.max_epochs above {epochs}"
    else:
        return resumed
    exported = [p for p in export_targets(cfg, export_names) if p.exists()]
    if exported:
        fix += f" and give a new paths.output_dir or export=false ({exported[0]} is its export)"
    raise ConfigError(
        f"ckpt_path={path} is the end of a finished run: it {done}, so resuming it would train "
        f"nothing; to train on, {fix}"
    )


def check_model_checkpoint(checkpoint) -> Path:
    """model.checkpoint as an absolute path, if it is weights that training can start from (a
    SAM or SAM-HQ file, not a training checkpoint or an HQ-only file): inspect, Use.START."""
    path = _absolute(checkpoint)
    inspect(path, use=Use.START, setting="model.checkpoint")
    return path


def check_model_source(model_cfg) -> None:
    """Training starts from base weights: model.checkpoint (weights a run may start from, see
    check_model_checkpoint) or, for the small random backbones, model.seed."""
    variant, checkpoint = model_cfg.variant, model_cfg.get("checkpoint")
    if checkpoint is not None:
        check_model_checkpoint(checkpoint)
    elif model_cfg.get("seed") is None:
        wanted = official_file(variant) or "an official SAM checkpoint"
        raise SetupError(
            f"model={variant} needs its SAM weights: pass model.checkpoint=/path/to/{wanted}"
        )
