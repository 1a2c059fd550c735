"""The Hydra commands' front door (samhq-train, samhq-evaluate): the setup errors Hydra finds
itself, and the run's folders, before @hydra.main runs.

Hydra reports an override it cannot parse, a config group option or a key that does not exist as
several lines and exit status 1, and it opens its log file in hydra.run.dir before the task runs
(an unwritable folder there is `ValueError: Unable to configure handler 'file'`). So the command
line is composed once here first with Hydra's compose API (a fraction of a second): a Hydra error
becomes one `config error:` line and exit status 2, like every other setup error, and the folders
the run writes to are checked writable (samhq_train.output_check) before Hydra creates them.
The run folder of samhq-evaluate follows output_dir when only output_dir is given
(run_dir_override), so that Hydra makes no second, empty folder under outputs/eval/.
--multirun composes every job of the basic sweep (as Hydra does before launching any) and checks
hydra.sweep.dir; --config-dir adds its folder to the search path and --config-path replaces the
package's configs, as Hydra does (a relative --config-path is Hydra's: inside the package of the
command's module). --help, --info, another sweeper (hydra/sweeper=...) and HYDRA_FULL_ERROR=1 are
left to Hydra as they were (their errors keep Hydra's own report).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence

import yaml
from hydra import compose, version
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import (
    compute_search_path_dir,
    create_config_search_path,
    detect_calling_file_or_module_from_task_function,
    get_args_parser,
    validate_config_path,
)
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from samhq_train.cli import CONFIG_DIR
from samhq_train.cli.key_typo import key_typo
from samhq_train.config_check import ConfigError
from samhq_train.distributed import exit_on_setup_error
from samhq_train.output_check import check_writable_folder


def one_line(err: BaseException) -> str:
    """Hydra's (or OmegaConf's) message on one line: blank-line paragraphs joined by "; ", an
    "Available options in 'x':" list by commas, the config search path dropped, an OmegaConf
    cause's first line added in parentheses."""
    text = re.split(r"\n\s*Config search path:", str(err))[0]
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].endswith(":"):
            paragraphs.append(f"{lines[0]} {', '.join(lines[1:])}")
        else:
            paragraphs.append(" ".join(lines))
    line = "; ".join(paragraphs)
    cause = err.__cause__  # OmegaConf's own words, as Hydra prints them
    if isinstance(cause, OmegaConfBaseException) and str(cause).strip():
        line += f" ({str(cause).strip().splitlines()[0]})"
    return line


def _check_syntax(overrides: Sequence[str]) -> None:
    """ConfigError naming the first override Hydra's grammar refuses (Hydra's message does not
    say which one)."""
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as err:
            raise ConfigError(
                f"the override {override!r} is not valid Hydra syntax: {one_line(err)}"
            ) from None


def primary_config_dir(config_path: str, task_function: Callable | None) -> str:
    """Where Hydra reads --config-path from for `task_function` (the @hydra.main function): an
    absolute folder as given, a relative one inside the package of the function's module (or
    beside its file when run as __main__); ConfigError for a path that names a file or an
    absolute folder that is not there."""
    try:
        validate_config_path(config_path)
    except ValueError:
        raise ConfigError(
            f"--config-path {config_path}: give the folder that holds the config, and its name "
            "with --config-name"
        ) from None
    calling_file, calling_module = (
        detect_calling_file_or_module_from_task_function(task_function)
        if task_function is not None
        else (None, "samhq_train.cli.command")
    )
    folder = compute_search_path_dir(calling_file, calling_module, config_path)
    if os.path.isabs(folder) and not os.path.isdir(folder):
        raise ConfigError(
            f"--config-path {config_path}: no such folder; give the folder that holds your "
            "config files (--config-dir adds a folder to the package's configs instead)"
        )
    return folder


def _config_path_error(err: ConfigError, config_path: str, primary: str, name: str) -> ConfigError:
    """Hydra's refusal of a --config-path folder in words that name the flag and the fix."""
    text = str(err)
    if text.startswith("Primary config module"):  # a relative path: a package path to Hydra
        return ConfigError(
            f"--config-path {config_path}: Hydra reads a relative --config-path inside the "
            f"command's package ({primary}), which has no such folder; give the absolute path "
            "of your config folder"
        )
    if text.startswith("Cannot find primary config"):
        return ConfigError(
            f"--config-path {config_path} holds no {name}.yaml (the config the command runs); "
            "give the folder that holds it, or its name with --config-name"
        )
    return err


@contextlib.contextmanager
def _hydra_configs(
    config_dir: str | None = None, primary: str | None = None
) -> Iterator[None]:
    """Hydra initialised on the package's configs (or the `primary` folder, --config-path's), with
    --config-dir's folder added to the search path where @hydra.main adds it (after the primary
    configs, before the structured configs)."""
    search_path = create_config_search_path(primary or str(CONFIG_DIR))
    if config_dir is not None:
        folder = os.path.abspath(config_dir)
        if not os.path.isdir(folder):
            raise ConfigError(
                f"--config-dir {config_dir}: no such folder ({folder}); give the folder that "
                "holds your config files"
            )
        search_path.prepend(
            provider="command-line", path=f"file://{folder}", anchor=SearchPathQuery("schema")
        )
    backup = get_gh_backup()
    version.setbase("1.3")
    try:
        Hydra.create_main_hydra2(task_name="app", config_search_path=search_path)
        yield
    finally:
        restore_gh_from_backup(backup)


def _sweep_jobs(overrides: Sequence[str]) -> list[list[str]]:
    """The overrides of each job a --multirun of the basic sweeper launches (every combination
    of the swept values); inside _hydra_configs (a glob sweep needs the config groups)."""
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    return BasicSweeper.split_arguments(parser.parse_overrides(list(overrides)), None)[0]


def _check_group_choices(config_name: str | None, job: Sequence[str]) -> None:
    """ConfigError for a `group=option` naming an option its group lacks, worded as Hydra's own
    refusal: Hydra skips a missing option of an `optional` group (train.yaml's debug) in silence,
    so a typo there would run without it. `group=null` (a traceback in Hydra) names `~group`."""
    loader = GlobalHydra.instance().config_loader()
    for override in OverridesParser.create(config_loader=loader).parse_overrides(list(job)):
        group, option = override.key_or_group, override.value()
        if override.is_delete() or not loader.repository.group_exists(group):
            continue
        options = loader.get_group_options(group)
        if option is None:
            raise ConfigError(
                f"{group}=null: a config group takes one of its options ({', '.join(options)}); "
                f"~{group} drops it"
            )
        if isinstance(option, str) and option not in options:
            raise ConfigError(
                f"In '{config_name}': Could not find '{group}/{option}'; Available options "
                f"in '{group}': {', '.join(options)}"
            )


def _refuse_list_configs(config_name: str | None, job: Sequence[str]) -> None:
    """ConfigError naming the first config file of the job's defaults tree (the primary config,
    every group choice and defaults entry, nested ones too) that is a YAML list: Hydra names the
    config of a list it cannot merge, and a list at a package that holds nothing else (a group of
    the user's own, `experiment=mine`, or an entry `- parts: lst` inside it) it merges as
    `parts: [..]` without a word."""
    loader = GlobalHydra.instance().config_loader()
    if config_name is not None:
        _refuse_list_config(config_name)
    try:
        entries = loader.compute_defaults_list(config_name, list(job), RunMode.RUN).defaults
    except (HydraException, OmegaConfBaseException):
        return  # composing the job words it (a missing config, a bad override, ...)
    for entry in entries:
        if entry.config_path is not None and not entry.config_path.startswith("hydra/"):
            _refuse_list_config(entry.config_path)


def _refuse_list_config(config_path: str) -> None:
    """ConfigError naming the file when the config at `config_path` (`group/option`, or a
    primary config's name) is a YAML list, not a mapping of keys."""
    found = GlobalHydra.instance().config_loader().repository.load_config(config_path)
    if found is None or not isinstance(found.config, ListConfig):
        return
    root = found.path.removeprefix("file://")
    raise ConfigError(
        f"config file {os.path.join(root, config_path + '.yaml')}: its top level is a list; "
        "a config file holds keys and values (a YAML mapping, `key: value` lines)"
    )


def compose_checked(
    config_name: str | None,
    overrides: Sequence[str],
    hydra: bool = True,
    *,
    config_dir: str | None = None,
    multirun: bool = False,
    primary: str | None = None,
) -> DictConfig:
    """The config Hydra will run with (with the hydra node unless not `hydra`; with `multirun`,
    its first job's, every job composed); a ConfigError with Hydra's message on one line for what
    Hydra refuses."""
    _check_syntax(overrides)
    try:
        with _hydra_configs(config_dir, primary):
            jobs = _sweep_jobs(overrides) if multirun else [list(overrides)]
            if not jobs:
                raise ConfigError(
                    "--multirun: the sweep makes no job (a glob(...) that matches no option of "
                    "its config group?); check the swept values"
                )
            for job in jobs:
                _check_group_choices(config_name, job)
                if config_dir or primary:  # the package's own configs are mappings (tested)
                    _refuse_list_configs(config_name, job)
            configs = [compose(config_name, job, return_hydra_config=hydra) for job in jobs]
            return configs[0]
    except (HydraException, OmegaConfBaseException) as err:
        with _hydra_configs(config_dir, primary):
            typo = key_typo(str(err), config_name, overrides)
        raise ConfigError(typo or one_line(err)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:  # a config file of the user's, damaged
        raise ConfigError(_unreadable_config(err)) from None


def _unreadable_config(err: yaml.YAMLError | UnicodeDecodeError) -> str:
    """One line naming a config file that is not YAML text: yaml's mark has its name; Hydra's file
    source holds it (full_path) in the frame that read it (a UnicodeDecodeError has no file); a
    ReaderError (a control character) has its name and position."""
    mark = getattr(err, "problem_mark", None)
    if mark is not None:
        problem = getattr(err, "problem", None) or "not valid YAML"
        where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}"
        return f"config file {where}: {problem}; fix the YAML there (or remove the file)"
    if isinstance(err, yaml.reader.ReaderError):  # a character YAML refuses: no mark, a position
        problem = str(err).splitlines()[0]
        return (f"config file {err.name}, position {err.position}: {problem}; fix the YAML there "
                "(or remove the file)")
    path, tb = None, err.__traceback__
    while tb is not None:
        path = tb.tb_frame.f_locals.get("full_path", path)
        tb = tb.tb_next
    what = f"config file {path}" if path else "a config file"
    return f"{what} is not UTF-8 text ({err.reason} at byte {err.start}); give a YAML file there"


def _select(cfg: DictConfig, key: str) -> str | None:
    """cfg's value at `key` as a string, None when unset or when it cannot be resolved yet."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
    except OmegaConfBaseException:
        return None
    return None if value is None else str(value)


def check_run_folders(cfg: DictConfig, settings: Sequence[str]) -> None:
    """OutputError for the first of `settings` (keys of cfg, e.g. "hydra.run.dir") that names a
    folder that is a file, cannot be created or is not writable. hydra:runtime.output_dir is
    filled in from hydra.run.dir, as Hydra will, so that the keys that follow it resolve."""
    run_dir = _select(cfg, "hydra.run.dir")
    if run_dir is not None:
        with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
            cfg.hydra.runtime.output_dir = os.path.abspath(run_dir)
    hydra_config = HydraConfig.instance()
    before = hydra_config.cfg
    hydra_config.set_config(cfg)  # so that ${hydra:...} resolves
    try:
        folders = {}
        for key in settings:
            folder = _select(cfg, key)
            if folder is not None:
                folders.setdefault(os.path.abspath(folder), key)
    finally:
        hydra_config.cfg = before
    for folder, key in folders.items():
        check_writable_folder(folder, key)


def _left_to_hydra(args) -> bool:
    other_sweeper = any(o.lstrip("+~").startswith("hydra/sweeper=") for o in args.overrides)
    return bool(
        args.help
        or args.hydra_help
        or (args.multirun and other_sweeper)
        or args.shell_completion
        or args.info
        or args.experimental_rerun
        or os.environ.get("HYDRA_FULL_ERROR") == "1"
    )


def run_dir_override(overrides: Sequence[str], follows: str | None) -> list[str]:
    """["hydra.run.dir=<value>"] when the command line sets `follows` (e.g. output_dir) and not
    hydra.run.dir: Hydra's run folder (its log, .hydra/) then goes where the outputs go, not into
    a second folder under the current one. The value is the user's text, so quoting carries."""
    keys = {o.split("=", 1)[0] for o in overrides if "=" in o}
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == follows]
    if follows is None or "hydra.run.dir" in keys or not given:
        return []
    return [f"hydra.run.dir={given[-1]}"]


def check_command_line(
    config_name: str,
    argv: Sequence[str],
    folders: Sequence[str],
    run_dir_follows: str | None = None,
    task_function: Callable | None = None,
) -> list[str]:
    """What Hydra would refuse on this command line, and the run's `folders`, as a UserError.
    Returns the overrides to add (run_dir_override), checked with the rest. `task_function` (the
    @hydra.main function) places a relative --config-path, as Hydra does."""
    args = get_args_parser().parse_args(list(argv))
    if _left_to_hydra(args):
        return []
    primary = args.config_path and primary_config_dir(args.config_path, task_function)
    single = args.cfg is None and not args.multirun
    added = run_dir_override(args.overrides, run_dir_follows) if single else []
    name = args.config_name or config_name
    try:
        cfg = compose_checked(
            name,
            [*args.overrides, *added],
            config_dir=args.config_dir,
            multirun=args.multirun,
            primary=primary or None,
        )
    except ConfigError as err:
        if not primary:
            raise
        raise _config_path_error(err, args.config_path, primary, name) from None
    if args.multirun:  # each job's folders are made under it, by Hydra, as it launches them
        check_run_folders(cfg, ["hydra.sweep.dir"])
    elif args.cfg is None:  # --cfg only prints the config
        if added:  # the run folder is the one the user gave as `run_dir_follows`: name that
            folders = [run_dir_follows, *(f for f in folders if f != run_dir_follows)]
        check_run_folders(cfg, folders)
    return added


def hydra_command(
    hydra_main: Callable[[], None],
    config_name: str,
    folders: Sequence[str],
    run_dir_follows: str | None = None,
) -> Callable[[], None]:
    """The command's main(): the command line checked (check_command_line), then `hydra_main`
    (the @hydra.main function) run on it. The whole of it passes through exit_on_setup_error:
    a signal while Hydra composes again and makes the run folder, before `hydra_main`'s own
    wrapper, is the one `interrupted` line too."""

    @exit_on_setup_error
    def main() -> None:
        sys.argv += check_command_line(
            config_name, sys.argv[1:], folders, run_dir_follows, hydra_main
        )
        hydra_main()

    main.__doc__ = hydra_main.__doc__
    return main


__all__ = [
    "check_command_line", "check_run_folders", "compose_checked", "hydra_command", "one_line",
    "run_dir_override",
]
