"""Look at a checkpoint interactively: a local page with SAM (HQ off) and SAM-HQ masks side by side.

    python scripts/app.py [CHECKPOINT] [--base BASE] [--port 7860] [--out app_output]
    (--checkpoint CHECKPOINT, as the other commands spell it, works too)
    python scripts/app.py CHECKPOINT --video VIDEO [--max-frames N]
    python scripts/app.py SAM3_CHECKPOINT --bpe bpe_simple_vocab_16e6.txt.gz   (text prompts)

CHECKPOINT is anything load_checkpoint reads (official .pth, transformers folder, safetensors, a
training .ckpt; an HQ-only file or delta with --base); without it, the shipped demo base
(data/demo_base/vit_demo_base.safetensors). Open the printed address in a browser: pick a demo
image or open your own, click positive / negative points or drag a box, and see both masks with
their predicted IoU; further clicks refine with the previous mask. Undo, reset, and download the
mask PNG and the prompts as scripts/predict.py's prompt file. A checkpoint without trained HQ
parts (an official SAM / SAM 2.1 / SAM 3 file, the shipped demo base) shows plain SAM on both
sides, after a note line saying so (the page's model line says it too). "Save" writes
<stem>_mask.png, <stem>_sam_mask.png and <stem>.json into --out and nowhere else.

--video (a video file or a folder of JPEG/PNG frames, read as samhq-video reads --frames) with an
HQ-SAM 2 / SAM 2.1 or HQ-SAM 3 / SAM 3 checkpoint (one with the tracker's video parts) opens the
video page instead (the image page stays at /image): scrub the frames, click points or drag a box
for one or more objects on any frame and see that frame's masks, propagate (forward, backward or
both, with progress), correct tracked frames with further clicks and propagate again, undo a click
or remove an object, and download every frame's masks as a zip of the indexed PNGs samhq-video
writes. The masks are the video predictor's (samhq_train/inference/video), batched objects (new
objects only before the first propagation, the official rule), HQ as for the image page. With
--bpe too (a SAM 3 file with the detector), the video page takes text prompts: SAM 3's video
concept model (ConceptVideoSession, as samhq-video --detect-every-frame) finds and tracks every
instance, replacing the clicked objects until Reset; --concept-settings FILE takes its settings.

--bpe FILE (the SAM 3 text tokenizer's merges file, Meta's bpe_simple_vocab_16e6.txt.gz) with a
SAM 3 checkpoint that holds the concept detector (Meta's sam3.pt, or a full export of it) adds a
text box to the image page: type a noun phrase and see every instance found (each its own colour,
box and confidence; the masks are the HQ decoder's for each found box, as samhq-concept draws),
with a confidence slider and optional example / counter-example boxes. "Save instances" writes
the files samhq-concept writes (<stem>_concept.json, <stem>_concept_masks/NNNN.png, an overlay)
under a stem no earlier save took.

The server binds to 127.0.0.1 unless --host says otherwise. Exit status 2 with one error line: a
checkpoint that does not load, a port that is taken, an --out that is not a folder; with --video, a
video that cannot be read or a checkpoint without video parts (SAM 1, the shipped SAM 3 demo
base), before the frames are resized for the model; with --bpe, a merges file that cannot be read,
or a checkpoint that is not SAM 3 or has no concept detector; a bad --concept-settings file.
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.app.command")

import argparse
import errno
import socket
import sys
from pathlib import Path

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.errors import exit_on_user_error, interrupt_exit_status, interrupt_signal
from samhq_train.image_header import max_image_pixels
from samhq_train.inference.command_options import (
    add_device_options,
    add_weights_options,
    check_device_options,
    checkpoint_refusal,
    flag_hints,
    hq_choice,
    untrained_hq_note,
)
from samhq_train.model import CheckpointError, load_checkpoint

from .concept import (
    ConceptSession,
    add_concept_options,
    check_bpe,
    check_detector_file,
    concept_predictor,
)
from .engine import AppError, Segmenter
from .server import CONCEPT_SCRIPT, PAGE, VIDEO_PAGE, App, make_server
from .video_open import (
    add_video_options,
    check_text_settings,
    check_video_args,
    open_video_session,
)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEMO_CHECKPOINT = DEMO_BASE_DIR / "vit_demo_base.safetensors"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", nargs="?", help=f"weights (default: {DEMO_CHECKPOINT})")
    parser.add_argument(  # every other command's spelling: folded into args.checkpoint
        "--checkpoint", dest="checkpoint_flag", metavar="CHECKPOINT",
        help="the same as the CHECKPOINT argument",
    )
    parser.add_argument("--base", help="base SAM / SAM-HQ checkpoint for an HQ-only checkpoint")
    add_weights_options(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=7860, help="port (default: 7860; 0: any free one)"
    )
    parser.add_argument(
        "--out", default="app_output", help="folder for saved masks and prompt files"
    )
    add_device_options(parser, bf16=False)
    add_video_options(parser)
    add_concept_options(parser)
    args = parser.parse_args(argv)
    take_checkpoint_flag(parser, args)
    check_device_options(parser, args)
    return args


def take_checkpoint_flag(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--checkpoint X as the CHECKPOINT argument X (one args.checkpoint); both given: a usage
    line (exit 2)."""
    flag = args.__dict__.pop("checkpoint_flag")
    if flag is not None and args.checkpoint is not None:
        parser.error(f"the checkpoint is given twice ({args.checkpoint} and --checkpoint "
                     f"{flag}): give one of them")
    args.checkpoint = args.checkpoint if flag is None else flag


def load_segmenter(
    args: argparse.Namespace, check_model=None, *, print_note: bool = True
) -> Segmenter:
    """The model of --checkpoint (or the demo base) on --device; AppError when it does not load.
    check_model(model, path), when given, runs first (its error is the only line printed).
    print_note=False: the note on untrained HQ parts (untrained_hq_note) is the caller's to print,
    once its own refusals are past."""
    model, path = load_model(args)
    if check_model is not None:
        check_model(model, path)
    family = getattr(model, "family", "?")
    description = f"{path.name} ({family}, {model.image_size} px input, {args.device})"
    use_hq, note = hq_choice(model)
    if note is not None and print_note:
        print(note, file=sys.stderr)
    if not use_hq:
        description += f"; HQ parts untrained: both sides are plain {model.untrained_hq.plain}"
    return Segmenter(model, description, use_hq=use_hq)


def checkpoint_path(args: argparse.Namespace) -> Path:
    """The checkpoint given, or the shipped demo base."""
    return Path(args.checkpoint) if args.checkpoint else DEMO_CHECKPOINT


def load_model(args: argparse.Namespace):
    """(the model on --device, its path)."""
    path = checkpoint_path(args)
    if not args.checkpoint and not path.is_file():
        raise AppError(f"the demo model {path} is missing; give a checkpoint path")
    try:
        with flag_hints():
            model = load_checkpoint(
                path, variant=args.variant, format=args.format, base_checkpoint=args.base
            )
    except (CheckpointError, OSError) as err:
        raise AppError(checkpoint_refusal(f"cannot load checkpoint {path}", path, err)) from None
    return model.to(args.device).eval(), path


def check_out_dir(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise AppError(f"--out {path} exists and is not a folder; give a folder for saved masks")
    return path


def check_host(host: str) -> None:
    """--host must name an address (a name that resolves), before the model is read."""
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as err:
        raise AppError(
            f"--host {host}: not an address ({getattr(err, 'strerror', None) or err}); give an "
            "address of this machine (default 127.0.0.1)"
        ) from None


def bind(host: str, port: int):
    """The app's server socket on host:port (its App set later, as RequestHandlerClass.app),
    bound before the model is read, so that a taken port is one line at once."""
    try:
        return make_server(None, host, port)
    except OSError as err:
        fix = (
            "give an address of this machine with --host (default 127.0.0.1)"
            if err.errno == errno.EADDRNOTAVAIL
            else "pass another --port (0: any free one)"
        )
        raise AppError(f"cannot serve on {host}:{port}: {err.strerror}; {fix}") from None


def make_app(args: argparse.Namespace, out_dir: Path) -> App:
    """The model (and the video / text mode its flags ask for) behind the page; AppError with
    one line when a flag's file or the checkpoint is refused."""
    video = check_video_args(args)  # read and checked before the model
    if args.host not in LOOPBACK:
        print(
            f"warning: --host {args.host} makes the app reachable from other machines",
            file=sys.stderr,
        )
    bpe = check_bpe(args.bpe)  # a missing --bpe file: one line before the model is read
    if bpe is not None:  # the demo base (no checkpoint given) too: refused from its header
        check_detector_file(checkpoint_path(args), args.format, args.base)
    text_settings = check_text_settings(args)
    predictor = None

    def text_mode(model, path):
        nonlocal predictor
        predictor = None if bpe is None else concept_predictor(model, bpe, path)

    segmenter = load_segmenter(args, text_mode, print_note=False)
    concept = None if predictor is None else ConceptSession(predictor, segmenter.use_hq)
    session = None if video is None else open_video_session(
        video, segmenter, Path(args.checkpoint), predictor, text_settings)
    note = untrained_hq_note(segmenter.predictor.model)
    if note is not None:  # after the refusals: an error is the one line printed
        print(note, file=sys.stderr)
    return App(segmenter, out_dir, video=session, concept=concept)


@exit_on_user_error
def main(argv: list[str] | None = None, *, serve: bool = True):
    """Load the model and serve the page until Ctrl-C; serve=False returns the server unstarted."""
    args = parse_args(argv)
    out_dir = check_out_dir(args.out)
    if not 0 <= args.port <= 65535:  # before the model is read (bind would raise OverflowError)
        raise AppError(f"--port {args.port}: expected a port number 0-65535 (0: any free one)")
    for page in (PAGE, VIDEO_PAGE, CONCEPT_SCRIPT):
        if not page.is_file():
            raise AppError(f"the app's page {page} is missing; install samhq-train from a clone "
                           "(pip install -e .)")
    check_host(args.host)
    max_image_pixels()  # a malformed SAMHQ_MAX_IMAGE_PIXELS: refused now, not at every upload
    server = bind(args.host, args.port)
    try:
        app = make_app(args, out_dir)
    except BaseException:
        server.server_close()
        raise
    server.RequestHandlerClass.app = app
    host, port = server.server_address[:2]
    print(f"model: {app.segmenter.description}")
    if app.concept is not None:
        page = "the image and video pages have" if app.video is not None else "the image page has"
        print(f"text prompts: on (--bpe {args.bpe}); {page} a text box")
    if app.video is not None:
        print(f"video: {app.video.description}")
    print(
        f"serving on http://{host}:{port}/  (Ctrl-C stops it; saved files go to {out_dir})",
        flush=True,
    )
    if not serve:
        return server
    try:
        server.serve_forever()
    except KeyboardInterrupt as stop:  # SIGTERM too (errors.Terminated)
        print(stop_note(app, host, port, interrupt_signal(stop)))
        sys.exit(interrupt_exit_status(stop))
    finally:
        server.server_close()
    return None


def stop_note(app, host, port, signal_name: str = "SIGINT") -> str:
    """What Ctrl-C (or SIGTERM) stopped and what it left: the server, and the saves (each
    written whole)."""
    return (
        f"interrupted ({signal_name}): stopped the app server on {host}:{port}; "
        f"{app.saves} mask(s) saved in this session, in {app.out_dir} (a save is written whole or "
        "not at all)"
    )

