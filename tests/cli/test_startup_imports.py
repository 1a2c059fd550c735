"""What a command has imported when it refuses its command line or prints --help: none of the
libraries only its work needs. Each costs CPU-seconds in every process that imports it (Lightning
with torchmetrics ~2, torch._dynamo ~1.5, albumentations ~0.8): the config check builds its dry-run
model without the meta device, whose Python decompositions import torch._dynamo
(model_from_config.uninitialised_parameters); the data package leaves albumentations to
data.transform_builders, the training package Lightning to training.module; and samhq-train /
samhq-evaluate import their run only after the config check (tests/test_import_graph.py's
DEFERRED); samhq-predict asks the variant's family record whether --int8 has a path, building no
model. Each command runs in a process forked from one that imported only torch, numpy, hydra
and omegaconf (tests/fork_server.py: a fresh process without their import time)."""

import json
import subprocess

import pytest
from PIL import Image

from tests.fork_server import ForkServer

HEAVY = ("lightning", "torchmetrics", "torch._dynamo", "albumentations")
# the libraries every command imports first (~3 CPU-s), imported once in a server process that
# forks a child per command (the fork is the fresh process); the server checks they load none
# of HEAVY, and each child reports all of HEAVY in its sys.modules. The commands' own modules
# are left to the child: a heavy import there shows in that command's test alone
PRELOAD = ("torch", "numpy", "hydra", "omegaconf")

# the command's main() run on `argv`; on the way out (after its SystemExit), which of HEAVY it
# had imported
SCRIPT = """
import atexit, sys
atexit.register(lambda: print("imported:", *[m for m in {heavy!r} if m in sys.modules]))
sys.argv = {argv!r}
from {module} import main
main()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("startup_server")
    server = ForkServer(folder, PRELOAD, watch=HEAVY)
    assert server.preloaded == [], f"importing {PRELOAD} imported {server.preloaded}"
    yield server, folder
    server.close()


def run_command(server, module: str, argv: list[str], cwd) -> subprocess.CompletedProcess:
    server, folder = server
    out, err = folder / "stdout", folder / "stderr"
    script = SCRIPT.format(heavy=HEAVY, argv=argv, module=module)
    returncode = server.run(script, cwd, out, err)
    return subprocess.CompletedProcess(argv, returncode, out.read_text(), err.read_text())


def refused_in_one_line(result: subprocess.CompletedProcess, line: str) -> None:
    """Exit 2, `line` the only line on stderr, and no heavy library imported."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(line), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout.splitlines()[-1] == "imported:", result.stdout


@pytest.mark.parametrize(
    ("module", "argv", "line"),
    [
        # refused after the dry-run model was built (the model is checked first)
        (
            "samhq_train.cli.train",
            ["samhq-train", "trainer.max_epochs=-2"],
            "config error: trainer.max_epochs=-2: expected an integer >= 1 (or -1 for no limit)",
        ),
        # refused by the dry-run build itself: a LoRA rank above a layer's width
        (
            "samhq_train.cli.train",
            ["samhq-train", "model.policy=hq+lora", "model.lora.rank=100000"],
            "config error: model.lora: LoRA rank 100000 exceeds image_encoder.blocks.0.attn.proj's "
            "width 96 (96 -> 96): use rank <= 96 or leave the layer out",
        ),
        (
            "samhq_train.cli.evaluate",
            ["samhq-evaluate", "data=demo", "n_worst=-1"],
            "config error: n_worst=-1: expected an integer >= 0",
        ),
        (
            "samhq_train.cli.make_demo_base",
            ["samhq-make-demo-base", "--steps", "0"],
            "error: --steps 0: give a number of steps >= 1",
        ),
    ],
    ids=["train-config", "train-lora", "evaluate-config", "make-demo-base"],
)
def test_a_refused_command_imports_no_heavy_library(server, tmp_path, module, argv, line):
    refused_in_one_line(run_command(server, module, argv, tmp_path), line)


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("samhq_train.cli.train", ["samhq-train", "--help"]),
        ("samhq_train.cli.make_demo_base", ["samhq-make-demo-base", "--help"]),
    ],
    ids=["train", "make-demo-base"],
)
def test_help_imports_no_heavy_library(server, tmp_path, module, argv):
    result = run_command(server, module, argv, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imported:" in result.stdout and result.stdout.splitlines()[-1] == "imported:"


def test_int8_with_a_variant_without_its_path_is_refused_before_any_model(server, tmp_path):
    """samhq-predict --int8 --variant vit_tiny (Light HQ-SAM: no int8 path): refused from the
    family record. Mutant: the check building the model on the meta device (torch._dynamo
    imported, seconds)."""
    argv = ["samhq-predict", "x.png", "--checkpoint", "light.pth", "--variant", "vit_tiny",
            "--int8", "--box", "1", "1", "5", "5", "--device", "cpu"]
    result = run_command(server, "samhq_train.cli.predict", argv, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "samhq-predict: error: --int8: the image encoder of vit_tiny has no int8 path (SAM 1 "
        "ViT-B/L/H, SAM 3 ViT, SAM 2.1 Hiera have one); leave --int8 out"
    ), result.stderr
    assert result.stdout.splitlines()[-1] == "imported:", result.stdout


def _concept_gt(tmp_path, lvis: bool) -> str:
    """A one-image COCO (or, with LVIS's keys, LVIS) GT json with a named category, its image
    beside it."""
    (tmp_path / "a.png").write_bytes(b"")  # only its presence is checked before the BPE file
    image = {"id": 1, "file_name": "a.png", "width": 4, "height": 4}
    category = {"id": 1, "name": "cat"}
    if lvis:
        image |= {"neg_category_ids": [], "not_exhaustive_category_ids": []}
        category |= {"frequency": "f"}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": [image], "annotations": [], "categories": [category]}))
    return str(path)


@pytest.mark.parametrize(
    "case", ["coco-concept-bpe", "lvis-concept-bpe", "checkpoint", "data-root", "set-folder",
             "demo-foreign-root"]
)
def test_evaluate_refuses_its_files_before_the_evaluation_stack(server, tmp_path, case):
    """samhq-evaluate's COCO / LVIS files, model.checkpoint, data.root and the image sets'
    folders are checked by evaluation/checks.py before entry.py (the datamodule, the cache:
    Lightning) is imported. Mutant: cli/evaluate.py importing entry before check_inputs (all of
    HEAVY imported); data-root, set-folder: left to the datamodule (Lightning imported);
    demo-foreign-root (the user's files under data=demo's root): left to the demo's writer."""
    missing = str(tmp_path / "missing")
    argv = ["samhq-evaluate", f"output_dir={tmp_path / 'out'}"]
    if case == "checkpoint":
        argv += ["model=vit_l", f"model.checkpoint={missing}.pth", f"data.root={missing}"]
        line = (f"error: model.checkpoint={missing}.pth not found: model.checkpoint takes a "
                "checkpoint in any format load_checkpoint reads")
    elif case == "data-root":
        argv += ["data=folder", f"data.root={missing}"]
        line = f"error: data root not found: {missing}; put the data there"
    elif case == "set-folder":
        argv += ["data=folder", f"data.root={tmp_path}"]
        line = f"error: val: image folder not found: {tmp_path}/val/images; check data.root"
    elif case == "demo-foreign-root":
        (tmp_path / "mine.jpg").write_bytes(b"")
        argv += ["data=demo", f"data.root={tmp_path}"]
        line = f"error: data.root={tmp_path} is not demo data made by samhq_train"
    else:
        gt = _concept_gt(tmp_path, lvis=case == "lvis-concept-bpe")
        argv += ["model=sam3_hq", f"model.checkpoint={missing}.pt", "benchmark=false",
                 "coco.prompts=concept", f"coco.concept.bpe={missing}.txt.gz",
                 f"coco.annotation_file={gt}", f"coco.image_dir={tmp_path}"]
        line = f"error: BPE merges file {missing}.txt.gz does not exist"
    refused_in_one_line(run_command(server, "samhq_train.cli.evaluate", argv, tmp_path), line)


DATA_CASES = ["data-root", "set-folder", "hqseg44k-set", "coco-json", "demo-foreign-root",
              "video-root", "video-val-root", "concept-root", "concept-val-json"]


@pytest.mark.parametrize("case", ["checkpoint", "trainer-key", "video-output", *DATA_CASES])
def test_train_refuses_its_inputs_before_the_training_stack(server, tmp_path, case):
    """samhq-train's checks (run/checks.py: config, trainer keys, loggers, the data's root, set
    folders and annotation files, outputs, checkpoints, model source) run before cli/train.py
    imports samhq_train.train (Lightning, torchmetrics, albumentations). Mutants: cli/train.py
    importing train before check_inputs (all of HEAVY); DATA_CASES: the data left to the
    datamodule (Lightning imported); video-*: left to training/video/run.py, or torchvision
    imported by data/video_transforms.py (torch._dynamo); concept-*: left to
    training/concept/run.py (Lightning)."""
    out = tmp_path / "out"
    argv = ["samhq-train", f"paths.output_dir={out}", f"hydra.run.dir={out}"]
    data = tmp_path / "data"
    if case in DATA_CASES:
        argv, line = argv + _data_case(case, data), _data_refusal(case, data)
    elif case == "checkpoint":
        missing = tmp_path / "missing.pth"
        argv += ["model=vit_l", f"model.checkpoint={missing}"]
        line = (f"error: model.checkpoint={missing} not found: model.checkpoint takes the "
                "official SAM (or a SAM-HQ) weights file training starts from")
    elif case == "trainer-key":
        argv += ["+trainer.max_epoch=1"]
        line = ("config error: trainer.max_epoch: Lightning's Trainer has no such argument; "
                "did you mean trainer.max_epochs?")
    else:
        taken = out / "export" / "sam2.1_hq_hiera_demo_video.pt"  # an earlier video run's export
        taken.parent.mkdir(parents=True)
        taken.write_bytes(b"")
        argv += ["experiment=video_finetune", *_video_clips(tmp_path / "clips")]
        line = f"error: {taken} already exists: give another paths.output_dir, or export=false"
    refused_in_one_line(run_command(server, "samhq_train.cli.train", argv, tmp_path), line)


def _data_case(case: str, data) -> list[str]:
    """The overrides of a data case, its folder under `data` made as the case needs."""
    if case == "data-root":
        return ["data=folder", f"data.root={data}"]  # not there
    if case == "video-root":
        return ["experiment=video_finetune", f"data.root={data}"]
    if case == "concept-root":
        return ["experiment=concept_finetune", "trainer=cpu", f"model.checkpoint={data}.pt",
                "concept.bpe=bpe.txt.gz", f"data.root={data}"]
    data.mkdir()
    if case == "video-val-root":
        return ["experiment=video_finetune", *_video_clips(data), f"data.val_root={data}/val"]
    if case == "concept-val-json":
        (data / "train").mkdir()
        (data / "train" / "_annotations.coco.json").write_text("{}")
        return ["experiment=concept_finetune", "trainer=cpu", f"model.checkpoint={data}.pt",
                "concept.bpe=bpe.txt.gz", f"data.root={data}",
                f"data.val_annotation_file={data}/val.json"]
    if case == "set-folder":
        (data / "train" / "images").mkdir(parents=True)  # no train/masks
        return ["data=folder", f"data.root={data}"]
    if case == "hqseg44k-set":
        return ["data=hqseg44k", f"data.root={data}"]
    if case == "coco-json":
        for split in ("train2017", "val2017"):
            (data / split).mkdir()
        return ["data=coco", f"data.root={data}"]
    (data / "mine.jpg").write_bytes(b"")  # demo-foreign-root: the user's files, data=demo kept
    return [f"data.root={data}"]


def _data_refusal(case: str, data) -> str:
    return {
        "data-root": f"error: data root not found: {data}; put the data there",
        "set-folder": f"error: train: mask folder not found: {data}/train/masks; check data.root",
        "hqseg44k-set": f"error: DIS5K-TR: image folder not found: {data}/DIS5K/DIS-TR/im; ",
        "coco-json": f"error: coco-train: annotation file not found: "
        f"{data}/annotations/instances_train2017.json; check data.root",
        "demo-foreign-root": f"error: data.root={data} is not demo data made by samhq_train",
        "video-root": f"error: data.root={data}: folder not found; give a root of "
        "JPEGImages/",
        "video-val-root": f"error: data.val_root={data}/val: folder not found; give a root of ",
        "concept-root": f"config error: data.root={data} does not exist: give the folder "
        "holding train/ and valid/",
        "concept-val-json": f"config error: data.val_annotation_file: {data}/val.json does not "
        "exist (a COCO json)",
    }[case]


def _video_clips(root) -> list[str]:
    """A video root of one sequence of one annotated frame (what the check stage's
    find_sequences reads: the folders, the first mask's PNG header; not the JPEG), and the
    overrides that take it."""
    for folder in ("JPEGImages", "Annotations"):
        (root / folder / "clip").mkdir(parents=True)
    (root / "JPEGImages" / "clip" / "0.jpg").write_bytes(b"")
    Image.new("P", (1, 1)).save(root / "Annotations" / "clip" / "0.png")
    return [f"data.root={root}", "data.num_frames=1"]


@pytest.mark.parametrize("case", ["video-prompts", "video-dropout", "concept-policy",
                                  "concept-bpe"])
def test_train_refuses_video_and_concept_keys_before_the_training_stack(server, tmp_path, case):
    """A video run's video.* keys and a concept run's concept.* keys (ranges, policy,
    concept.bpe's file) are checked by training/{video,concept}/config_checks.py in the check
    stage, before cli/train.py imports samhq_train.train. Mutant: left to train_video /
    train_concept (Lightning, torchmetrics imported), or a config_checks module importing the
    run's loss or loaders (torchmetrics)."""
    out, missing = tmp_path / "out", tmp_path / "missing.txt.gz"
    argv = ["samhq-train", f"paths.output_dir={out}", f"hydra.run.dir={out}",
            f"data.root={tmp_path / 'data'}"]
    if case.startswith("video"):
        argv += ["experiment=video_demo", "data.val_root=null"]
    else:
        argv += ["experiment=concept_demo"]
    setting, line = {
        "video-prompts": ("video.prompts.prob_to_use_pt_input=2",
                          "config error: video.prompts.prob_to_use_pt_input=2: expected a number "
                          "in [0, 1]"),
        "video-dropout": ("video.dropout=1.5",
                          "config error: video.dropout=1.5: must be in [0, 1) (0: off)"),
        "concept-policy": ("concept.policy=bogus",
                           "config error: concept.policy=bogus: expected one of full, detector, "
                           "detector+lora"),
        "concept-bpe": (f"concept.bpe={missing}",
                        f"config error: concept.bpe={missing}: no such file: pass the path of "
                        "CLIP's merges file bpe_simple_vocab_16e6.txt.gz"),
    }[case]
    refused_in_one_line(run_command(server, "samhq_train.cli.train", [*argv, setting], tmp_path),
                        line)
