"""The package's import graph: no cycles between modules, no project imports inside functions
(except an entry point's DEFERRED ones), and the layer arrows (constants, errors, imaging,
mask_png, drawing at the bottom, then model and data, entry points on top)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "samhq_train"

# subpackage -> the project subpackages / top-level modules it may import
# errors (the user-facing error base), files (atomic writes, digests), write_failures (why a
# write failed, as one line), user_files (a user's
# paths checked and read, frame names' order), output_check (writable output folders), finite
# (NaN / inf in tensors), progress (live bars or plain lines), lazy_exports (a package's names
# loaded on first use) and compat (what differs between the supported releases) are neutral:
# any layer
NEUTRAL = {
    "errors", "files", "write_failures", "user_files", "output_check", "finite", "progress",
    "lazy_exports", "compat",
}
ALLOWED = {
    "compat": set(),
    "errors": {"compat"},  # deferred (DEFERRED): the commands' release check
    "files": {"errors", "write_failures"},
    "write_failures": {"errors"},
    "user_files": {"files"},
    "output_check": {"errors"},  # output folders checked writable before any work
    "finite": {"errors"},
    "lazy_exports": set(),
    "progress": set(),  # live bars or plain lines: the one decision and line format, any layer
    "constants": set(),
    "distributed": set(),
    "settings": {"errors"},
    # the `concept` / `video` groups' records: below the config layer, which stores their
    # defaults (config_defaults), and the training runs that read them
    "concept_settings": {"settings", "model"},
    "video_settings": {"settings"},
    "imaging": {"constants", "image_signatures", "image_header"},
    # the header read before decoding, the pixel limit, the errors' wording: imaging's lower half,
    # whose names the layers that read images import from it
    "image_header": set(),
    "image_signatures": set(),  # what a file's bytes tell (cut short, HEIC ...), for imaging
    # annotation PNGs (video masks), beside imaging's image reader
    "mask_png": {"imaging", "image_header"},
    "resizing": set(),  # SAM's long-side rule and the uint8 resizes, beside imaging
    "drawing": set(),  # the overlay picture, beside imaging
    # COCO segmentations <-> masks: the training data, the evaluations and the AMG's output
    "coco_masks": set(),
    # SAM 3's text tokenizer: pure Python, so the ONNX concept graphs run without torch
    "clip_tokenizer": set(),
    # a family's input rule (model/<family>/processing.py) resizes with resizing's one resize
    "model": {"constants", "imaging", "resizing", "settings", "clip_tokenizer"},
    # clip_tokenizer: the concept demo's merges file, learnt by its pure-Python BPE learner
    "data": {
        "constants", "imaging", "image_header", "mask_png", "resizing", "settings", "distributed",
        "clip_tokenizer", "coco_masks",
    },
    "batch_forward": {"data", "model"},
    "model_from_config": {"model"},
    "evaluation": {
        "constants", "imaging", "image_header", "drawing", "data", "model", "cache", "config_check",
        "batch_forward", "model_from_config", "evaluation.video", "evaluation.cgf1",
        "coco_masks",
        # ConceptPredictor and its tokenizer: COCO AP of SAM 3 text prompts (coco_concept)
        "inference", "clip_tokenizer",
    },
    # video object segmentation metrics (J, F, J&F): a layer of its own inside evaluation
    "evaluation.video": {
        "constants", "imaging", "image_header", "mask_png", "data", "model", "evaluation.cgf1",
        "coco_masks",
    },
    # cgF1 from match counts (SAM 3's metric): images (saco_metrics) and videos alike
    "evaluation.cgf1": set(),
    "training": {"constants", "data", "model", "evaluation", "batch_forward", "distributed"},
    # video fine-tuning (SAM2Train's clip forward and loss, its LightningModule and run)
    "training.video": {
        "constants", "data", "model", "evaluation", "evaluation.video", "training",
        "model_from_config", "distributed",  # the loss's object count over processes
        "video_settings",
    },
    # SAM 3 concept fine-tuning (Meta's detection loss, matchers, optimiser groups)
    "training.concept": {"constants", "data", "model", "training", "distributed", "cache",
                         # the run: the phrases' tokenizer, the model from the config, box AP
                         "clip_tokenizer", "model_from_config", "evaluation",
                         "concept_settings"},
    # with inference.video (samhq-video)
    "inference": {
        "constants", "imaging", "image_header", "mask_png", "drawing", "model", "clip_tokenizer",
        "coco_masks",
    },
    "reference": {"model"},
    "cache": {"constants", "imaging", "data", "model", "distributed"},
    "config_defaults": {"constants", "data", "model", "concept_settings", "video_settings"},
    "config_training": {"data", "settings"},
    "config_check": {
        "cache", "config_defaults", "config_training", "constants", "data", "model",
        "model_from_config", "settings",
    },
    "app": {"constants", "imaging", "image_header", "data", "model", "inference", "clip_tokenizer"},
    # the pieces of a training run around the LightningModule (loggers, callbacks, outputs)
    "run": {"config_check", "data", "model", "evaluation", "training", "inference",
            # the check stage: the video / concept runs' key checks (*/config_checks.py)
            "training.video", "training.concept"},
    "train": {
        "config_check", "data", "model", "model_from_config", "evaluation", "training",
        "inference", "cache", "imaging", "run", "training.video", "training.concept",
    },
    # the installed commands: argument parsing around the layers below
    "cli": {
        "train", "evaluation", "evaluation.video", "training", "inference", "data", "model", "app",
        "config_defaults",
        "constants",  # the wording of what a file must hold (SAM3_DETECTOR_FILES)
        "config_check",  # hydra_command: Hydra's own errors as ConfigError lines
        "distributed",  # a setup error that every DDP process hits: said once (report_once)
        "run",  # samhq-train's check stage (run/checks.py), before the training stack
    },
}
for _layer in ALLOWED:
    if _layer not in NEUTRAL:
        ALLOWED[_layer] |= NEUTRAL

# The one kind of project import allowed inside a function: a command's entry point imports the
# layer that does its work only when it runs it, so that --help and a command line refused before
# any work do not import that layer's dependencies (Lightning, torchmetrics, albumentations:
# seconds of CPU in every process; tests/cli/test_startup_imports.py checks). module -> what its
# functions may import; the layer and cycle tests hold these imports to the same rules as
# module-level ones. samhq_train.cli imports its CONFIG_DIR on first use: the installed commands'
# entry points (cli/commands.py) are imported before their signal handling is set.
DEFERRED = {
    # the commands' release check, inside the signal wrapper, before the command's imports
    "samhq_train.errors": {"samhq_train.compat"},
    "samhq_train.cli": {"samhq_train.config_defaults"},
    "samhq_train.cli.train": {"samhq_train.train"},
    "samhq_train.cli.evaluate": {"samhq_train.evaluation.entry"},
    "samhq_train.cli.make_demo_base": {"samhq_train.training.demo_base"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def project_imports(path: Path) -> tuple[set[str], list[str]]:
    """(modules imported at module level or DEFERRED, other imports found inside functions) of
    one file."""
    tree = ast.parse(path.read_text())
    current, is_package = module_name(path), path.name == "__init__.py"
    top, nested = set(), []
    deferred = DEFERRED.get(current, set())

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = resolve(node, current, is_package)
        # `from pkg import mod` imports the module pkg.mod; `from pkg import name` imports pkg
        out = []
        for alias in node.names:
            candidate = ROOT / Path(*f"{base}.{alias.name}".split("."))
            if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                out.append(f"{base}.{alias.name}")
            elif base not in out:
                out.append(base)
        return out

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [n for n in targets(node) if n.split(".")[0] == "samhq_train"]
            if node.col_offset == 0 or (names and set(names) <= deferred):
                top.update(names)
            elif names:
                nested.append(f"{current}:{node.lineno} imports {names}")
    return top, nested


def graph() -> tuple[dict[str, set[str]], list[str]]:
    edges, nested = {}, []
    for path in sorted(PACKAGE.rglob("*.py")):
        top, inner = project_imports(path)
        edges[module_name(path)] = top
        nested += inner
    return edges, nested


def layer(module: str) -> str:
    parts = module.split(".")
    if ".".join(parts[1:3]) in ALLOWED:  # a sublayer (evaluation.video)
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_project_imports_inside_functions():
    _, nested = graph()
    assert not nested, nested


def test_no_import_cycles_between_modules():
    edges, _ = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                raise AssertionError(
                    "import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt])
                )
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node)


def test_layers_import_only_downwards():
    edges, _ = graph()
    wrong = []
    for module, imported in edges.items():
        if module == "samhq_train":
            continue
        own = layer(module)
        for target in imported:
            other = layer(target)
            if other != own and target != "samhq_train" and other not in ALLOWED.get(own, set()):
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_scripts_do_not_import_tests():
    for script in (ROOT / "scripts").rglob("*.py"):
        tree = ast.parse(script.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests":
                raise AssertionError(f"{script.name} imports {node.module}")
            if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "tests" for a in node.names
            ):
                raise AssertionError(f"{script.name} imports tests")
