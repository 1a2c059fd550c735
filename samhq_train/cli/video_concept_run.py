"""The --checkpoint run of samhq-video-concept-eval: SAM 3's video concept model
(ConceptVideoSession, as samhq-video --text ... --detect-every-frame) on every video x phrase
pair the GT asks, the text prompt on the first frame, tracked forward. A video's frames are
exactly its GT file names, <frames>/<file name>; each pair's masks and concept.json go to
<out>/<video folder>/<category id>/, the layout --masks reads."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch

from samhq_train.errors import UserError
from samhq_train.evaluation.video.concept_inputs import ConceptGroundTruth, asked_pairs
from samhq_train.evaluation.video.concept_masks import frame_stems, pair_folder
from samhq_train.inference.video.command import davis_palette
from samhq_train.inference.video.command_model import load_model as load_video_model
from samhq_train.inference.video.concept_video.command_run import (
    make_session,
    read_settings,
    run_concept_video,
    write_outputs,
)
from samhq_train.inference.video.frames import FramesError, VideoFrames, frame_size
from samhq_train.output_check import OutputError, check_output_dir
from samhq_train.progress import track

PROMPT_FRAME = 0


class ConceptRunError(UserError):
    """A --frames, --out or --checkpoint the concept benchmark cannot use; names it."""


def plan_videos(gt: ConceptGroundTruth, frames_root: Path) -> dict[int, VideoFrames]:
    """Each asked video's frames (its GT file names under --frames), checked to exist and to have
    the GT's size before the model loads."""
    videos = {}
    for video_id in dict.fromkeys(v for v, _ in asked_pairs(gt)):
        files = [frames_root / name for name in gt.file_names[video_id]]
        missing = next((f for f in files if not f.is_file()), None)
        if missing is not None:
            raise ConceptRunError(f"--frames {frames_root}: {missing} missing (video {video_id})")
        try:
            size = frame_size(files)
        except FramesError as err:
            raise ConceptRunError(f"--frames: {err}") from None
        if size != gt.sizes[video_id]:
            raise ConceptRunError(
                f"--frames: {files[0]} is {size[1]}x{size[0]}, but --gt says video {video_id} is "
                f"{gt.sizes[video_id][1]}x{gt.sizes[video_id][0]}"
            )
        videos[video_id] = VideoFrames(files[0].parent, files, frame_stems(gt, video_id), size)
    return videos


def check_out(out: Path, gt: ConceptGroundTruth, overwrite: bool) -> None:
    folders = [pair_folder(out, gt, v, c) for v, c in asked_pairs(gt)]
    try:
        check_output_dir(
            out, folders, overwrite=overwrite, create_parents=True, folder_targets=folders,
            taken_hint="pass --overwrite to replace the masks there, or give another --out",
            elsewhere="give another --out",
        )
    except OutputError as err:
        raise ConceptRunError(str(err)) from None


def run_pairs(args: argparse.Namespace, gt: ConceptGroundTruth) -> Path:
    """Every asked pair tracked into <out>; the folder --masks then reads."""
    if not Path(args.frames).is_dir():
        raise ConceptRunError(f"--frames {args.frames}: no such folder (the GT's frames root)")
    videos = plan_videos(gt, Path(args.frames))
    out = Path(args.out)
    check_out(out, gt, args.overwrite)
    settings = read_settings(args.concept_settings, args.threshold)
    model = load_video_model(args).to(args.device)
    if model.family != "sam3":
        raise ConceptRunError(f"--checkpoint {args.checkpoint}: a {model.family} model; the "
                              "video concept model needs an HQ-SAM 3 / SAM 3 file")
    session = make_session(args, model, settings)
    device, palette = torch.device(args.device).type, davis_palette()
    for video_id, category_id in track(asked_pairs(gt), "video x phrase pairs", unit="pair"):
        video, text = videos[video_id], gt.phrases[category_id]
        folder = pair_folder(out, gt, video_id, category_id)
        folder.mkdir(parents=True, exist_ok=True)
        record = {"text": text, "frame": PROMPT_FRAME, "frame_name": video.names[PROMPT_FRAME],
                  "settings": asdict(settings)}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=args.bf16):
            results = run_concept_video(session, video, PROMPT_FRAME, text)
            write_outputs(folder, video, results, palette, record, session)
    return out
