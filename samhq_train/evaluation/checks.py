"""samhq-evaluate's check stage: everything that can be refused before the evaluation stack
(the datamodule's albumentations, the embedding cache's Lightning: seconds of CPU) is imported.
The config's types and ranges, the output folder, the tasks asked for, the COCO / LVIS / SA-Co
files (GT jsons, detections, image folder, CLIP's BPE merges file: read and checked), that
the model.checkpoint file is there and, for the image sets, data.root, in that order;
cli/evaluate.py runs it before importing entry.py, and evaluate(cfg) runs it when called
directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.utils import to_absolute_path

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.config_check import check_config
from samhq_train.data import ClickProtocol
from samhq_train.data.roots import check_data_sets, plain_data_config
from samhq_train.evaluation.coco_concept_exemplars import draw_exemplars
from samhq_train.evaluation.coco_concept_queries import concept_queries
from samhq_train.evaluation.coco_inputs import (
    check_image_files,
    read_coco_inputs,
    read_concept_inputs,
)
from samhq_train.evaluation.coco_tasks import check_coco_task, coco_task, plain
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import SacoGT, read_saco_gt
from samhq_train.model import Use
from samhq_train.model.formats import setting_named
from samhq_train.model.formats.errors import not_found
from samhq_train.model_from_config import absolute_path
from samhq_train.output_check import OutputError, check_writable_folder

# what an evaluation writes at the top of output_dir (report.py, coco_runner.py): a folder that
# holds one of them is an earlier evaluation's, whose reports a new one would replace
REPORT_FILES = (
    "results.md", "scores.json", "clicks.md", "click_scores.json",
    *(f"{task}{end}" for task in ("coco", "lvis", "saco") for end in (".md", "_metrics.json")),
)


@dataclass(frozen=True)
class EvaluationInputs:
    """What the check stage found: where the reports go, the click protocol's record, the COCO
    task (coco_task) with its read GT and prompts (None without a task), model.checkpoint as
    an absolute path (None: the random demo backbone) and, for coco.prompts=concept, each asked
    image's queries (coco_concept_queries.concept_queries; the run asks them as they are)."""

    out_dir: Path
    protocol: ClickProtocol
    task: str | None
    coco_gt: object
    coco_prompts: object
    checkpoint: str | None
    concept_queries: dict | None = None


def check_inputs(cfg) -> EvaluationInputs:
    """Every check made before any heavy work; a UserError (ConfigError, EvaluationError,
    DataError, CheckpointError, OutputError) names the key or file and what to give."""
    check_config(cfg)  # types and ranges of every key first: ConfigError names the key
    # where the reports go, before anything is read: not after every score is computed
    out_dir = check_writable_folder(to_absolute_path(str(cfg.output_dir)), "output_dir")
    check_no_earlier_reports(out_dir)
    protocol = ClickProtocol.from_mapping(plain(cfg.get("clicks")))  # clicks.*: its record
    task = coco_task(cfg)
    if task is not None:
        check_coco_task(cfg)
    elif not cfg.benchmark and not protocol.enabled:
        raise EvaluationError(
            "nothing to evaluate: benchmark=false, clicks.enabled=false, no coco.detections given "
            "and coco.prompts is not concept"
        )
    coco_gt, coco_prompts, queries = (None, None, None)
    if task is not None:  # the jsons (and BPE file) read before the model and benchmark
        coco_gt, coco_prompts, queries = _read_coco_inputs(cfg.coco, task)
    checkpoint = absolute_path(cfg.model.get("checkpoint"))
    if checkpoint is not None and not Path(checkpoint).exists():  # the file is read once, later
        with setting_named("model.checkpoint", checkpoint, Use.EVALUATE):
            raise not_found(checkpoint)
    if cfg.benchmark or protocol.enabled:  # the image sets, before the datamodule's import
        _check_image_sets(plain_data_config(cfg.data), plain(cfg.get("sets")))
    return EvaluationInputs(out_dir, protocol, task, coco_gt, coco_prompts, checkpoint, queries)


def check_no_earlier_reports(out_dir: Path) -> None:
    """An output_dir holding an earlier evaluation's reports is refused: a new evaluation would
    replace them (the default output_dir is a new timestamped folder per run)."""
    earlier = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if earlier:
        raise OutputError(
            f"output_dir={out_dir} holds an earlier evaluation's {', '.join(earlier)}: give "
            "another output_dir (or leave it out: a new folder under outputs/eval), or move "
            "those files away"
        )


def _check_image_sets(data: dict, wanted) -> None:
    """data.root and the folders of the sets evaluated (data.test_sets, else data.val_sets; with
    `sets`, those named) are there (roots.check_data_sets); the demo data is written on first
    use."""
    key = "test_sets" if data.get("test_sets") is not None else "val_sets"
    check_data_sets(data, (key,), wanted)


def _read_coco_inputs(coco_cfg, task: str) -> tuple:
    """(the GT, its prompts: the detections list for "boxes", ({category id: name}, the
    exemplar boxes or None) for "concept", None for "saco": its pairs are in the GT; each asked
    image's queries for "concept", coco_concept_queries.concept_queries, else None), every file
    read and checked."""
    image_dir = to_absolute_path(str(coco_cfg.image_dir))
    if task == "saco":
        files = plain(coco_cfg.annotation_file)
        files = [files] if isinstance(files, str) else files
        bpe = to_absolute_path(str(coco_cfg.concept.bpe))
        return read_saco_inputs([to_absolute_path(f) for f in files], image_dir, bpe), None, None
    annotation_file = to_absolute_path(str(coco_cfg.annotation_file))
    if task == "boxes":
        detections = to_absolute_path(str(coco_cfg.detections))
        coco_gt, detections = read_coco_inputs(annotation_file, image_dir, detections)
        return coco_gt, detections, None
    bpe = to_absolute_path(str(coco_cfg.concept.bpe))
    names = plain(coco_cfg.concept.get("categories"))
    coco_gt, categories = read_concept_inputs(annotation_file, image_dir, bpe, names)
    concept = coco_cfg.concept
    exemplars = draw_exemplars(coco_gt, categories, concept.exemplars, concept.exemplar_seed)
    queries = concept_queries(coco_gt, categories,
                              concept.per_image if exemplars is None else exemplars)
    check_image_files(coco_gt, image_dir, list(queries), annotation_file)  # the images it reads
    return coco_gt, (categories, exemplars), queries


def read_saco_inputs(annotation_files, image_dir, bpe) -> SacoGT:
    """The SA-Co GT files (one path or a list: a subset's annotator files), read and checked
    before the model, with the image folder, the images of the pairs scored and the BPE merges
    file (EvaluationError, TokenizerFileError naming the file)."""
    gt = read_saco_gt(annotation_files)
    if not Path(image_dir).exists():
        raise EvaluationError(f"SA-Co image folder not found: {image_dir}")
    check_image_files(gt.files[0], image_dir, gt.pair_ids, gt.paths[0])  # the pairs scored
    ClipTokenizer(bpe, vocab_size=None)  # a bad merges file: one line before the weights
    return gt


__all__ = ["EvaluationInputs", "check_inputs", "read_saco_inputs"]
