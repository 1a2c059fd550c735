"""The way back from an interrupted run: what stopped, what was saved, and the command that
resumes it into its own run folder.

`reporting_interrupts` wraps a whole run: it holds the signal handlers (CheckpointOnInterrupt,
interrupt.py), and when a signal (or Ctrl+C) stops the run it prints one report and exits with
the shell's code for the signal (130 SIGINT, 143 SIGTERM). `resume_command` repeats the launch's
overrides, Hydra's own included, with hydra.run.dir set to this run's folder: the resumed run
writes its checkpoints, logs and metrics where the interrupted one did.
"""

import contextlib
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only

from samhq_train.files import DiskFullError, NotWritableError, write_error
from samhq_train.training.interrupt import CheckpointOnInterrupt, RunInterrupted, say

# Hydra's settings that name this launch, not the run: the resume command sets its own
RUN_FOLDER_KEYS = (
    "hydra.run.dir",
    "hydra.mode",
    "hydra.sweep.dir",
    "hydra.sweep.subdir",
    "hydra.output_subdir",
)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def launch_overrides() -> list[str] | None:
    """The command-line overrides of this run under Hydra, else None (train() called directly)."""
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # HydraConfig was not set
        return None


def launch_settings() -> tuple[list[str], str | None, str | None, bool]:
    """(the launch's hydra.* overrides, this run's folder, the config name when not train,
    whether Hydra records the launch in .hydra/) under Hydra; ([], None, None, False) otherwise."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return [], None, None, False
    config_name = hydra_cfg.job.get("config_name")
    return (
        list(hydra_cfg.overrides.hydra),
        hydra_cfg.runtime.output_dir,
        config_name if config_name not in (None, "train") else None,
        hydra_cfg.output_subdir is not None,
    )


def resume_record(run_folder: Path, recorded: bool) -> str:
    """hydra.output_subdir of the resumed run: .hydra/resumed-<n> (the next free n), so that the
    launch records Hydra keeps (config, overrides) are not replaced by the resumed run's."""
    if not recorded:
        return "hydra.output_subdir=null"
    n = 1 + len(list((run_folder / ".hydra").glob("resumed-*")))
    return f"hydra.output_subdir=.hydra/resumed-{n}"


def launch_command() -> str:
    """How this run was started: the installed command, else the repository's train.py."""
    return "samhq-train" if Path(sys.argv[0]).name == "samhq-train" else "python train.py"


def resume_command(ckpt: Path | str) -> str:
    """`python train.py <this run's overrides> hydra.run.dir=<this run's folder>
    hydra.output_subdir=.hydra/resumed-<n> ckpt_path=<ckpt>` (or samhq-train ...): every override
    of the launch, Hydra's included, so that the resumed run continues in the same folder with
    the same settings, its own launch record beside the first one."""
    overrides = launch_overrides()
    if overrides is None:
        return " ".join([launch_command(), "<your overrides>", shlex.quote(f"ckpt_path={ckpt}")])
    hydra_overrides, run_folder, config_name, recorded = launch_settings()
    words = [launch_command()]
    if config_name:
        words.append(f"--config-name={config_name}")
    words += [o for o in overrides if _key(o) != "ckpt_path"]
    words += [o for o in hydra_overrides if _key(o) not in RUN_FOLDER_KEYS]
    if run_folder:
        folder = Path(run_folder).resolve()
        words += [f"hydra.run.dir={folder}", resume_record(folder, recorded)]
    words.append(f"ckpt_path={ckpt}")
    return " ".join([words[0], *(shlex.quote(w) for w in words[1:])])


def last_checkpoint(trainer: L.Trainer | None, resumed_from: str | None) -> Path | None:
    """The checkpoint to resume from: the newest written by a callback that saves every epoch
    (monitor null: last.ckpt), else the newest any callback wrote, else the one resumed from."""
    every_epoch, others = [], [Path(resumed_from)] if resumed_from else []
    for cb in trainer.checkpoint_callbacks if trainer is not None else []:
        paths = [Path(p) for p in (cb.last_model_path, cb.best_model_path) if p]
        (every_epoch if getattr(cb, "monitor", None) is None else others).extend(paths)
    for found in (every_epoch, every_epoch + others):
        found = [p for p in found if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def interrupt_signal(stop: CheckpointOnInterrupt) -> str:
    """The signal that stopped the run (a KeyboardInterrupt no handler saw counts as SIGINT)."""
    trainer = stop.trainer
    return stop.received or ("SIGTERM" if trainer and trainer.received_sigterm else "SIGINT")


@rank_zero_only
def report_interrupt(stop: CheckpointOnInterrupt, resumed_from: str | None) -> None:
    """What was interrupted, what was saved, and how to go on (resume, or stop.next_step)."""
    trainer = stop.trainer
    head = f"interrupted ({interrupt_signal(stop)}) during {stop.phase}"
    if trainer is not None and stop.phase.startswith(("training", "the validation of epoch")):
        head += f" at epoch {trainer.current_epoch}, step {trainer.global_step}"
    if stop.written is not None:
        again = " (resuming runs that validation again)" if "validation" in stop.phase else ""
        ckpt = stop.written.resolve()
        say(
            f"{head}; saved: a checkpoint of that position, {ckpt}{again}\n"
            f"resume with: {resume_command(ckpt)}"
        )
        return
    ckpt = last_checkpoint(trainer, resumed_from)
    if ckpt is None:
        started = trainer is not None and trainer.global_step > 0
        say(
            f"{head}; nothing to resume from (the first checkpoint is written at the end of the "
            "first epoch): run the same command again"
            if started
            else f"{head}, before any training: nothing to resume, run the same command again"
        )
        return
    finished = "training had finished; " if stop.training_done else ""
    say(
        f"{head}; {finished}nothing new was saved, the last checkpoint is {ckpt.resolve()}\n"
        + (stop.next_step or f"resume with: {resume_command(ckpt.resolve())}")
    )


@contextlib.contextmanager
def reporting_interrupts(stop: CheckpointOnInterrupt, resumed_from: str | None) -> Iterator[None]:
    """Around a whole run: SIGINT / SIGTERM are handled by `stop` (its handlers are removed at
    the end), an interrupted run is reported (report_interrupt) and ends with RunInterrupted
    (exit status 130 / 143); anything else passes through."""
    stop.install()
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as stopped:  # Lightning turns Ctrl+C into sys.exit(1)
        by_signal = isinstance(stopped, RunInterrupted | KeyboardInterrupt) or stop.received
        if not (by_signal or (stop.trainer is not None and stop.trainer.interrupted)):
            raise
        report_interrupt(stop, resumed_from)
        raise RunInterrupted(interrupt_signal(stop)) from None
    finally:
        stop.uninstall()


@contextlib.contextmanager
def reporting_full_disk(trainer: L.Trainer, resumed_from: str | None) -> Iterator[None]:
    """Around trainer.fit: a full disk (a checkpoint, the cache) is DiskFullError's one line plus
    the command that resumes from the run's last checkpoint (the one the interrupt report
    names), when there is one. A file size limit or an unwritable place is the same; so is one
    met by a writer outside files.py (TensorBoard's event file, written by its own thread): its
    line names the file, else the logger's folder."""
    try:
        yield
    except (DiskFullError, NotWritableError) as err:
        ckpt = last_checkpoint(trainer, resumed_from)
        if ckpt is None:
            raise
        raise type(err)(f"{err}; resume with: {resume_command(ckpt.resolve())}") from None
    except OSError as err:
        error = write_error(Path(err.filename or trainer.log_dir or "."), err, None, 0)
        if error is None:
            raise
        ckpt = last_checkpoint(trainer, resumed_from)
        if ckpt is not None:
            error = type(error)(f"{error}; resume with: {resume_command(ckpt.resolve())}")
        raise error from None


__all__ = [
    "last_checkpoint",
    "launch_overrides",
    "report_interrupt",
    "reporting_full_disk",
    "reporting_interrupts",
    "resume_command",
]
