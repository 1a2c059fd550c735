"""Evaluation: mask IoU / boundary IoU metrics and COCO mask / boundary AP.

Modules, by job (arrows only point down the list; no module imports one that imports it back):

    metrics       mask_iou, boundary_iou (batched torch) and their torchmetrics wrappers
    coco          pycocotools glue: mask AP and boundary AP (RLE: samhq_train.coco_masks)
    baseline      the untouched base SAM after a run that fine-tuned its decoder (kept values)
    evaluate      the shared evaluation step of validation and the runners; DatasetMetrics
    errors        EvaluationError
    device        resolve_device, precision names (the trainer's), autocast
    loading       load_model: a checkpoint in any format, or the seeded demo backbone
    worst         WorstImages: the lowest-scoring images of a set
    benchmark     run_benchmark: the loop over the benchmark sets
    clicks        run_click_benchmark: the click protocol (NoC@k, mIoU / mBIoU after n clicks)
    report        results_tables (also training's summary), click_tables, overlay PNGs, writers
    lvis_eval     LVIS's federated AP (APr / APc / APf), lvis-api's LVISEval rewritten
    lvis_gt       LVIS jsons told apart and checked; image paths (file_name or coco_url)
    lvis_boxes    box-prompted masks scored with lvis_eval: mask and boundary AP; LVIS's table
    coco_runner   detector boxes as prompts -> COCO AP (LVIS AP with an LVIS json)
    lvis_concept  the concept detections scored with lvis_eval (coco_concept's LVIS rows)
    coco_concept  SAM 3 text prompts (category names) -> COCO AP: detector / SAM / SAM-HQ masks
    saco_metrics  SA-Co's cgF1, IL_MCC, pmF1 of (image, noun phrase) pairs (Meta's CGF1Evaluator's)
    saco_concept  SAM 3 text prompts (SA-Co pairs) -> cgF1: detector / SAM / SAM-HQ masks
    entry         evaluate(cfg): the conf/eval.yaml entry (benchmark + clicks + COCO + reports)
    video/        J, F, J&F of video object segmentation (samhq-video-eval; a layer of its own)

The package imports none of them itself (each from its module: samhq_train.evaluation.metrics
...), so that a command that needs no torchmetrics (video evaluation, --help) starts without it.
"""
