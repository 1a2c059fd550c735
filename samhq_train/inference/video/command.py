"""samhq-video: track objects through a video with an HQ-SAM 2 (or SAM 2.1) model.

    samhq-video --frames video/ --prompts prompts.json --checkpoint hq_sam2.pt --out masks/

--frames: a folder of JPEG/PNG frames of one size (numeric names in number order, else by name),
or a video file (.mp4, .avi, .mov, .mkv, .webm; frames decoded in order, named 00000, 00001, ...).
--prompts: a JSON list of {"frame", "object", "points"/"labels", "box" or "mask"} entries, with
"round": 2, 3, ... for correction clicks (see samhq_train/inference/video/prompts.py). Every object
is tracked forward from the first prompted frame to the last frame, then in reverse from there to
the first frame, with the official HQ-SAM 2 video predictor's rules (--objects independent: Meta
sam2 1.1.0's, each object on its own); each later round corrects tracked frames and tracks again.
--bf16: the model under bfloat16 autocast, as the official predictor runs on the GPU.
--max-frames N: only the first N frames are read (a video file decoded no further) and tracked.
Writes <out>/<frame name>.png per frame: an indexed (palette) PNG, 0 = background, pixel
value = object id (DAVIS style; where objects overlap the smaller id is written); with --overlay
also <out>/overlay/<frame name>.jpg. --no-hq: plain SAM 2.1 from the same weights (a file
without trained HQ parts, as Meta's SAM 2.1 files, decodes so by itself, with a note line).
--text "a car" --bpe FILE (instead of --prompts; HQ-SAM 3 / SAM 3 files with the concept
detector, e.g. Meta's sam3.pt): SAM 3's concept detector finds every instance of the text on frame
--text-frame N (default 0) with confidence above --threshold (default 0.5); each becomes an object
(ids 1..K, highest score first) with its box as the prompt there, and all are tracked as above.
Detect once, then track: not Meta's SAM 3 video model, which runs the detector on every frame and
matches its detections to the tracks (an instance not visible on frame N is not tracked). Also
writes <out>/concept.json: the text, the frame, and per object its id, detector score and box.
--exemplar-box X0 Y0 X1 Y1 (video pixels, repeatable) with or without --text: an example of the
concept on --text-frame, --counter-box one that is not (with --text or an --exemplar-box), the
options of samhq-concept; with --detect-every-frame one box (Meta's video model takes one: see
concept_video/box_prompt.py). concept.json records them (exemplar_boxes, exemplar_labels).
No instance found: a line says so, every frame's PNG is background, concept.json lists no
objects, exit status 0. --bpe: CLIP's merges file bpe_simple_vocab_16e6.txt.gz (from Meta's sam3
repository, assets/; sam3.pt does not contain it).
Exit status 0, or 2 with one error line for bad input (frames, prompts, a checkpoint that is not
an HQ-SAM 2 / SAM 2.1 model, an output folder that holds files without --overwrite; with --text:
no --bpe or a bad one, a checkpoint without the detector or the video parts, a SAM 2.1 one,
a --text-frame the video does not have, a box outside the frame or with x1 <= x0 or y1 <= y0),
before the frames are resized for the model.
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.inference.video.command")

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samhq_train.drawing import draw_overlay
from samhq_train.errors import exit_on_user_error
from samhq_train.files import atomic_write, atomic_write_text
from samhq_train.output_check import OutputError, check_output_dir
from samhq_train.progress import Progress

from ..command_options import (
    add_device_options,
    add_hq_option,
    add_weights_options,
    check_device_options,
)
from ..concept_command import add_box_options, box_record
from ..interrupted import exit_interrupted
from .checkpoint_parts import checkpoint_info, tracking_refusal
from .command_model import (
    VideoInputError,
    check_variant,
    concept_predictor,
    load_model,
    tracking_predictor,
)
from .concept_options import check_text_options, checked_concept_prompts, concept_prompt
from .concept_tracking import (
    ConceptObjects,
    add_concept_objects,
    check_concept_frame,
    prompt_words,
)
from .concept_video.command_run import (
    check_concept_video_options,
    detect_every_frame,
    read_clicks,
    read_settings,
)
from .frames import open_video
from .predictor import OBJECT_MODES, VideoPredictor
from .prompts import VideoPrompt, check_rounds, read_prompts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", required=True, help="folder of JPEG/PNG frames or a video file")
    parser.add_argument(
        "--prompts", help="prompts JSON file (or --text; with --detect-every-frame: clicks)"
    )
    parser.add_argument(
        "--text", help="track every instance of this concept (HQ-SAM 3 / SAM 3; detect once, on "
        "--text-frame, then track: not Meta's SAM 3 video model)",
    )
    add_box_options(parser, " on --text-frame, in video pixels")
    parser.add_argument("--bpe", help="with --text / --exemplar-box: the BPE merges file (.txt.gz)")
    parser.add_argument(
        "--text-frame", type=int, default=0,
        help="with --text / --exemplar-box: the frame to detect on (default 0)",
    )
    parser.add_argument(
        "--threshold", type=float, default=0.5,
        help="with --text: the detection confidence an instance needs (default 0.5)",
    )
    parser.add_argument(
        "--detect-every-frame", action="store_true",
        help="with --text: SAM 3's video concept model (detect on every frame, associate, add "
        "and remove objects) instead of detect once, then track",
    )
    parser.add_argument(
        "--concept-settings", help="with --detect-every-frame: JSON file of the video model's "
        "settings (e.g. hotstart_delay)",
    )
    parser.add_argument("--out", required=True, help="output folder for the mask PNGs")
    parser.add_argument(
        "--checkpoint", required=True, help="HQ-SAM 2 / SAM 2.1 / HQ-SAM 3 / SAM 3 weights"
    )
    parser.add_argument("--base", help="base SAM 2.1 checkpoint for an HQ-only --checkpoint")
    add_weights_options(parser)
    add_device_options(parser)
    add_hq_option(parser)
    parser.add_argument(
        "--objects", choices=OBJECT_MODES, default="batched",
        help="batched: the official HQ-SAM 2 predictor (default); independent: Meta sam2 1.1.0",
    )
    parser.add_argument(
        "--fill-hole-area", type=int,
        help="fill background holes up to this many low-res pixels (default: the official "
        "predictor's, 8 for SAM 2.1, 0 for SAM 3; 0: off)",
    )
    parser.add_argument(
        "--max-frames", type=int,
        help="read and track only the first N frames (a video file is decoded no further)",
    )
    parser.add_argument("--overlay", action="store_true", help="also write overlay pictures")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    args = parser.parse_args(argv)
    if args.fill_hole_area is not None and args.fill_hole_area < 0:
        parser.error(f"--fill-hole-area {args.fill_hole_area}: give 0 (off) or more")
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f"--max-frames {args.max_frames}: give 1 or more (or leave it out: all)")
    check_text_options(parser, args)
    check_concept_video_options(parser, args)
    check_device_options(parser, args)
    return args


def davis_palette() -> list[int]:
    """The DAVIS / PASCAL VOC palette, 256 RGB triples flattened (id 1 dark red, 2 green ...)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= (i >> (3 * bit) & 1) << (7 - bit)
            g |= (i >> (3 * bit + 1) & 1) << (7 - bit)
            b |= (i >> (3 * bit + 2) & 1) << (7 - bit)
        palette += [r, g, b]
    return palette


def id_mask(obj_ids: list[int], logits: torch.Tensor) -> np.ndarray:
    """N_obj x 1 x H x W logits -> H x W uint8 object ids (0 background; smaller ids on top)."""
    masks = (logits[:, 0] > 0).cpu().numpy()
    out = np.zeros(masks.shape[1:], dtype=np.uint8)
    for obj_id, mask in sorted(zip(obj_ids, masks), key=lambda p: -p[0]):
        out[mask] = obj_id
    return out


def check_out(out: Path, targets: list[Path], overwrite: bool) -> None:
    """Refuse an --out that cannot be written, or that holds files (unless --overwrite)."""
    existing = sorted(out.iterdir()) if out.is_dir() and not overwrite else []
    try:
        check_output_dir(  # each path once, the frames' own first: the line counts what is there
            out, list(dict.fromkeys([*targets, *existing])), overwrite=overwrite,
            create_parents=True,
            taken_hint="--out holds files: pass --overwrite to write there, or give another --out",
            elsewhere="give another --out",
        )
    except OutputError as err:
        raise VideoInputError(str(err)) from None


CONCEPT_JSON = "concept.json"  # with --text: the objects the detector made


def check_prompt_rounds(args: argparse.Namespace, model, prompts: list[VideoPrompt]) -> None:
    """The prompts file's rounds, checked again once the model's family is known (before any
    frame is encoded; the predictor refuses --objects independent for SAM 3 itself)."""
    check_rounds(prompts, args.prompts, args.objects, sam3=model.family == "sam3")


def write_mask(out: Path, name: str, obj_ids, logits) -> None:
    picture = Image.fromarray(id_mask(obj_ids, logits), mode="P")
    picture.putpalette(davis_palette())
    atomic_write(out / f"{name}.png", lambda tmp: picture.save(tmp, format="PNG"))


def write_overlay(out: Path, name: str, image: np.ndarray, obj_ids, masks) -> None:
    drawn = draw_overlay(image, list(masks), labels=[str(i) for i in obj_ids])
    picture = Image.fromarray(drawn)
    atomic_write(out / "overlay" / f"{name}.jpg",
                 lambda tmp: picture.save(tmp, format="JPEG", quality=90))


def add_prompts(predictor: VideoPredictor, prompts: list[VideoPrompt]) -> None:
    for p in prompts:
        if p.mask is not None:
            predictor.add_mask(p.frame, p.obj_id, p.mask)
        else:
            predictor.add_points_or_box(p.frame, p.obj_id, p.points, p.labels, p.box)


def tracked_frames(predictor: VideoPredictor, rounds: list[list[VideoPrompt]]):
    """The official interactive workflow: each round's prompts added, then every object tracked
    forward from the first prompted frame and in reverse from there; yields (frame, obj_ids,
    logits) of the last round's passes, a progress line per pass where no terminal shows a bar."""
    for number, prompts in enumerate(rounds, 1):
        add_prompts(predictor, prompts)
        for reverse in (False, True):
            passing = predictor.propagate(reverse=reverse)
            first = next(passing, None)
            if first is None:  # reverse from frame 0
                continue
            total = first[0] + 1 if reverse else predictor.num_frames - first[0]
            what = "tracking in reverse" if reverse else "tracking forward"
            if len(rounds) > 1:
                what = f"round {number}/{len(rounds)}, {what}"
            with Progress(total, what, "frame") as progress:
                for result in itertools.chain([first], passing):
                    if number == len(rounds):
                        yield result
                    progress.update()


def background_frames(video_size: tuple[int, int], num_frames: int):
    """(frame, no objects, 0 x 1 x H x W logits) per frame: what a video without objects gives."""
    empty = torch.zeros(0, 1, *video_size)
    return ((frame, [], empty) for frame in range(num_frames))


def write_concept(
    out: Path, args: argparse.Namespace, video, objects: ConceptObjects, boxes, labels
) -> None:
    record = {
        "text": args.text, **box_record(boxes, labels), "frame": objects.frame,
        "frame_name": video.names[objects.frame], "threshold": args.threshold,
        "objects": objects.records(),
    }
    atomic_write_text(out / CONCEPT_JSON, json.dumps(record, indent=1))  # whole, or none


def write_results(out: Path, video, results, overlay: bool) -> None:
    """Each frame's masks (and overlay) as tracking yields them; Ctrl-C (where the tracking
    spends its time) stops with one line saying how many were written, each whole."""
    (out / "overlay" if overlay else out).mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        for frame, obj_ids, logits in results:
            write_mask(out, video.names[frame], obj_ids, logits)
            if overlay:
                masks = (logits[:, 0] > 0).cpu().numpy()
                write_overlay(out, video.names[frame], video.image(frame), obj_ids, masks)
            written += 1
    except KeyboardInterrupt as stop:
        exit_interrupted(stop, written, len(video), "frames' masks", out)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    concept = concept_prompt(args)
    check_variant(args.variant, text=concept)
    video = open_video(args.frames, keep_decoded=args.overlay, max_frames=args.max_frames)
    limit = "" if args.max_frames is None else f"with --max-frames {args.max_frames}"
    if not concept:
        prompts = read_prompts(args.prompts, len(video), video.size, args.objects, limit, sam3=None)
    else:
        check_concept_frame(args.text_frame, len(video), limit, what="--text-frame")
        boxes, labels = checked_concept_prompts(args, video.size)
        clicks = read_clicks(args.prompts, len(video), video.size, limit)
    out = Path(args.out)
    targets = [out / f"{n}.png" for n in video.names] + ([out / "overlay"] if args.overlay else [])
    check_out(out, targets + ([out / CONCEPT_JSON] if concept else []), args.overwrite)
    settings = read_settings(args.concept_settings, args.threshold, args.detect_every_frame)
    info = checkpoint_info(args.checkpoint, args.format)
    lacking = None if info is None else tracking_refusal(info, args.base, text=concept)
    if lacking is not None:  # from the file's key names, before a model is built
        raise VideoInputError(lacking)
    model = load_model(args).to(args.device)
    if args.detect_every_frame:
        return detect_every_frame(
            args, video, model, settings, out, davis_palette(), clicks, box_record(boxes, labels)
        )
    if not concept:
        check_prompt_rounds(args, model, prompts)
    else:
        detector = concept_predictor(args, model)
    predictor = tracking_predictor(args, model)
    device = torch.device(args.device).type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=args.bf16):
        if not concept:
            predictor.set_video(video)
            rounds = [[p for p in prompts if p.round == r] for r in range(1, prompts[-1].round + 1)]
            results = tracked_frames(predictor, rounds)
        else:
            objects = add_concept_objects(
                predictor, detector, video, args.text, frame=args.text_frame,
                exemplar_boxes=boxes, exemplar_labels=labels,
            )
            rounds = [[]]  # the objects' boxes are prompted: track both ways
            results = tracked_frames(predictor, rounds) if len(objects) else (
                background_frames(video.size, len(video))
            )
        write_results(out, video, results, args.overlay)
    if concept:
        write_concept(out, args, video, objects, boxes, labels)
        if not len(objects):
            print(f"no instance of {prompt_words(args.text, boxes)} on frame {args.text_frame} "
                  f"passed --threshold {args.threshold}: nothing tracked, every frame written "
                  "as background")
    rounds_text = f" ({len(rounds)} rounds)" if len(rounds) > 1 else ""
    print(f"{len(video)} frames, objects {predictor.obj_ids}{rounds_text} -> {out}")
    return 0

