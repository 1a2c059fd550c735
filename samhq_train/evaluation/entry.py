"""``evaluate(cfg)``: everything scripts/evaluate.py does, from a conf/eval.yaml config.

One key per setting, shared with training: the model is ``model.checkpoint`` / ``model.variant``
(``model.seed`` for the random demo backbone), the prompt ``data.prompts.eval_prompt`` (through
each batch's prompt types, as validation), the boundary width ``metrics.dilation_ratio``, the
precision in the trainer's names (``32 | bf16-mixed | 16-mixed``). ``clicks.*`` (ClickProtocol,
samhq_train/data/clicks.py) adds the click-based protocol (evaluation/clicks.py) on the same
sets: ``clicks.enabled=true clicks.max=20``. ``coco.*`` adds COCO mask / boundary AP, prompted
with a detector's boxes (coco_runner.py; LVIS's federated AP with an LVIS json) or,
``coco.prompts=concept``, with each category's name through SAM 3's detector (coco_concept.py),
or ``coco.concept.metric=cgf1``, with each (image, noun phrase) pair of an SA-Co json, scored
with cgF1 (saco_concept.py). With
``data.cache.enabled`` the benchmark sets are encoded once into the embedding cache
(samhq_train/cache) and evaluated from it; a training run's cache of the same sets is reused
when the checkpoint kept its base's encoder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from hydra.utils import to_absolute_path
from omegaconf import OmegaConf

from samhq_train.cache.build import cache_from_config
from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.data.datamodule import build_datamodule
from samhq_train.data.sets import check_set_files
from samhq_train.evaluation.benchmark import run_benchmark
from samhq_train.evaluation.checks import EvaluationInputs, check_inputs
from samhq_train.evaluation.clicks import run_click_benchmark
from samhq_train.evaluation.coco_concept import concept_predictor, evaluate_concept_model
from samhq_train.evaluation.coco_runner import evaluate_coco_model
from samhq_train.evaluation.coco_tasks import concept_threshold
from samhq_train.evaluation.device import canonical_precision, resolve_device
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.report import (
    click_tables,
    markdown_tables,
    model_labels,
    write_click_report,
    write_report,
)
from samhq_train.evaluation.saco_concept import evaluate_saco_model
from samhq_train.model import (
    LoadedCheckpoint,
    Provenance,
    Use,
    encoder_needs_grad,
    file_sha256,
    policy_of,
)
from samhq_train.model.formats import record_of, setting_named, taking_families
from samhq_train.model_from_config import absolute_path, build_model_from_config

log = logging.getLogger(__name__)

# a SAM / SAM 2 file given for text prompts: what to give (the loader would propose its model=)
TEXT_PROMPTS_NEED = ("coco.prompts=concept prompts SAM 3's text detector: give "
                     f"{SAM3_DETECTOR_FILES}, with model=sam3_hq*")


def _select_sets(datamodule, wanted: Sequence[str] | None):
    if not wanted:
        return datamodule
    names = datamodule.test_names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise EvaluationError(f"sets {unknown} are not configured; the data config has {names}")
    specs = [s for s, n in zip(datamodule.test_specs, names) if n in set(wanted)]
    datamodule.test_specs = specs  # read by setup("test")
    return datamodule


def cache_provenance(cfg, loaded: LoadedCheckpoint) -> Provenance:
    """What identifies the evaluated encoder in the embedding cache's key: when the policy left
    the base encoder frozen, the base file's sha256 under a file that is made on a base (its
    format's record says so: HQ-only, delta, hq_decoder, a training checkpoint) with the base
    given (base_checkpoint: that file is the encoder's, a recorded one is not used), else a
    training checkpoint's record (its base's sha256, checked when loading, or the random
    backbone's seed: the run's own cache entries are then reused); otherwise nothing, and the
    key holds a hash of the encoder weights themselves. ``loaded``: what loading
    ``model.checkpoint`` gave (its record and format, so the file is not read again)."""
    record = loaded.provenance  # the random demo backbone's: its variant and seed
    variant = record.variant or cfg.model.get("variant")
    if encoder_needs_grad(policy_of(record)):
        return Provenance(variant=variant)
    base = absolute_path(cfg.get("base_checkpoint"))
    if base is not None and loaded.format is not None and record_of(loaded.format).needs_base:
        return Provenance(variant=variant, base_sha256=file_sha256(base))
    if record.base_sha256 is not None or record.seed is not None:
        return record
    return Provenance(variant=variant)


def coco_transform(setting: str, model) -> str:
    """coco.transform, with `auto` resolved to the evaluation transform of the model family's
    input rule (model.processing.eval_transform)."""
    return model.processing.eval_transform if setting == "auto" else setting


def _test_loaders(cfg, model, loaded: LoadedCheckpoint, device) -> list[tuple[str, object]]:
    """(set name, loader) of the sets evaluated, served from the embedding cache (built first)
    with data.cache.enabled."""
    datamodule = build_datamodule(cfg.data, image_size=model.image_size)
    datamodule = _select_sets(datamodule, cfg.get("sets"))
    datamodule.prepare_data()
    datamodule.setup("test")
    checked = check_set_files(
        datamodule.test_names, datamodule.test_sets, what="evaluation",
        images=datamodule.check_images,
    )
    if checked.unusable:
        raise EvaluationError(
            f"no image could be evaluated in {', '.join(checked.unusable)} (every sample is "
            "skipped: see the warnings above): fix those files, or leave the set out with "
            "sets=[...]"
        )
    if (cfg.data.get("cache") or {}).get("enabled"):
        provenance = cache_provenance(cfg, loaded)
        cache = cache_from_config(cfg.data.cache, model, provenance, progress=cfg.progress)
        datamodule.use_cache(cache)
        cache.build(model, device=device)
    return list(zip(datamodule.test_names, datamodule.test_dataloader()))


def evaluate(cfg, inputs: EvaluationInputs | None = None) -> dict:
    """Load the model, run the benchmark sets, the click protocol (``clicks.enabled``) and COCO
    (when ``coco.detections`` is set, or ``coco.prompts=concept``), write the reports.
    ``inputs``: what checks.check_inputs(cfg) gave (None: it runs first).

    Returns ``{"benchmark": run_benchmark's result or None, "clicks": run_click_benchmark's or
    None, "coco": {...} or None, "paths": {...}, "model": the model}``. Raises a UserError
    (CheckpointError, DataError, EvaluationError, ...) whose message says what to fix.
    """
    inputs = inputs or check_inputs(cfg)  # every refusal before any heavy work
    out_dir, protocol, task = inputs.out_dir, inputs.protocol, inputs.task
    coco_gt, coco_prompts, checkpoint = inputs.coco_gt, inputs.coco_prompts, inputs.checkpoint
    coco_cfg = cfg.get("coco") or {}
    device = resolve_device(cfg.device)
    precision = canonical_precision(cfg.precision)
    dilation_ratio = float(cfg.metrics.dilation_ratio)
    text_prompts = task in ("concept", "saco")
    families = ("sam3",) if text_prompts else ("sam1", "sam2", "sam3")
    with setting_named("model.checkpoint", checkpoint, Use.EVALUATE), \
            taking_families(families, "model.checkpoint", TEXT_PROMPTS_NEED):
        loaded = build_model_from_config(
            cfg.model, purpose="evaluate", base_checkpoint=cfg.get("base_checkpoint")
        )
    model = loaded.model
    # after hq+decoder / hq+lora, "SAM" (HQ token off) is the fine-tuned SAM: say so in the rows
    labels = model_labels(policy_of(loaded.provenance).name)
    if text_prompts:  # NoDetectorError for a file without the detector, before work
        predictor = concept_predictor(
            model, to_absolute_path(str(coco_cfg.concept.bpe)),
            threshold=concept_threshold(coco_cfg), device=device, precision=precision,
        )
    untrained = getattr(model, "untrained_hq", None)  # load_checkpoint's rule
    if untrained is not None and (cfg.benchmark or protocol.enabled or text_prompts):
        print(f"note: {untrained}: its SAM-HQ rows are the untrained HQ parts (the figure "
              "before training)", file=sys.stderr)
    settings = _report_settings(cfg, model, checkpoint, precision, device)
    out = {"benchmark": None, "clicks": None, "coco": None, "paths": {}, "model": model}
    if cfg.benchmark or protocol.enabled:
        loaders = _test_loaders(cfg, model, loaded, device)
    if cfg.benchmark:
        result = run_benchmark(
            model, loaders, sam_baseline=cfg.sam_baseline, hq_token_only=cfg.hq_token_only,
            n_worst=cfg.n_worst, device=device, precision=precision,
            dilation_ratio=dilation_ratio, progress=cfg.progress,
        )
        out["benchmark"] = result
        out["paths"].update(write_report(result, out_dir, settings=settings, labels=labels))
        print(markdown_tables(result, labels))
    if protocol.enabled:
        clicks = run_click_benchmark(
            model, loaders, protocol, sam_baseline=cfg.sam_baseline,
            hq_token_only=cfg.hq_token_only, device=device, precision=precision,
            dilation_ratio=dilation_ratio, progress=cfg.progress,
        )
        out["clicks"] = clicks
        out["paths"].update(write_click_report(clicks, out_dir, settings=settings, labels=labels))
        print(click_tables(clicks, labels))
    if task is not None:
        if task == "boxes":
            coco = _run_coco(cfg, model, coco_gt, coco_prompts, labels, device, precision,
                             out_dir)
        elif task == "saco":
            coco = _run_saco(cfg, predictor, coco_gt, labels, out_dir)
        else:
            coco = _run_concept_coco(cfg, predictor, coco_gt, coco_prompts, labels, out_dir,
                                     inputs.concept_queries)
        out["coco"] = coco
        out["paths"].update(coco["paths"])
        print(coco["table"])
    log.info("evaluation written to %s", out_dir)
    return out


def _report_settings(cfg, model, checkpoint, precision: str, device) -> dict:
    """What the reports record of how the evaluation ran."""
    return {
        "checkpoint": checkpoint or f"random {cfg.model.variant} backbone, seed {cfg.model.seed}",
        "image_size": model.image_size,
        "prompt": cfg.data.prompts.eval_prompt,
        "hq_token_only": bool(cfg.hq_token_only),
        "sam_baseline": bool(cfg.sam_baseline),
        "eval_transform": OmegaConf.to_container(cfg.data.get("eval_transform") or {}, resolve=True),
        "dilation_ratio": float(cfg.metrics.dilation_ratio),
        "precision": precision,
        "device": str(device),
    }


def _run_coco(cfg, model, coco_gt, detections, labels, device, precision: str, out_dir) -> dict:
    """COCO's box-prompted evaluation of the (already read and checked) detections."""
    coco_cfg = cfg.coco
    return evaluate_coco_model(
        model,
        annotation_file=coco_gt,
        image_dir=to_absolute_path(str(coco_cfg.image_dir)),
        detections=detections,
        transform=coco_transform(coco_cfg.transform, model),
        hq_token_only=coco_cfg.hq_token_only,
        sam_baseline=cfg.sam_baseline,
        max_detections=coco_cfg.max_detections,
        prompt_batch=coco_cfg.prompt_batch,
        num_workers=coco_cfg.num_workers,
        device=device,
        precision=precision,
        dilation_ratio=float(cfg.metrics.dilation_ratio),
        progress=cfg.progress,
        out_dir=out_dir,
        labels=labels,
    )


def _run_concept_coco(cfg, predictor, coco_gt, prompts, labels, out_dir, queries=None) -> dict:
    """COCO's text- (or exemplar-) prompted evaluation (coco.prompts=concept) of the read and
    checked GT; prompts: the categories and exemplars _read_coco_inputs gives, queries: each
    asked image's, as the check stage worked them out (None: worked out again)."""
    coco_cfg = cfg.coco
    categories, exemplars = prompts
    return evaluate_concept_model(
        predictor,
        coco_gt=coco_gt,
        image_dir=to_absolute_path(str(coco_cfg.image_dir)),
        categories=categories,
        per_image=coco_cfg.concept.per_image if exemplars is None else exemplars,
        threshold=concept_threshold(coco_cfg),
        max_detections=coco_cfg.max_detections,
        hq_token_only=coco_cfg.hq_token_only,
        sam_baseline=cfg.sam_baseline,
        dilation_ratio=float(cfg.metrics.dilation_ratio),
        labels=labels,
        progress=cfg.progress,
        out_dir=out_dir,
        queries=queries,
    )


def _run_saco(cfg, predictor, gt, labels, out_dir) -> dict:
    """SA-Co's text-prompted evaluation (coco.concept.metric=cgf1) of the read and checked GT."""
    coco_cfg = cfg.coco
    return evaluate_saco_model(
        predictor,
        gt=gt,
        image_dir=to_absolute_path(str(coco_cfg.image_dir)),
        threshold=concept_threshold(coco_cfg),
        hq_token_only=coco_cfg.hq_token_only,
        sam_baseline=cfg.sam_baseline,
        labels=labels,
        progress=cfg.progress,
        out_dir=out_dir,
    )
