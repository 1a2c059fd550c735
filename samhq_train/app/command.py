"""Look at a checkpoint interactively: a local page with SAM (HQ off) and SAM-HQ masks side by side.

    python scripts/app.py [CHECKPOINT] [--base BASE] [--port 7860] [--out app_output]

CHECKPOINT is anything load_checkpoint reads (official .pth, transformers folder, safetensors, a
training .ckpt; an HQ-only file or delta with --base); without it, the shipped demo base
(data/demo_base/vit_demo_base.safetensors). Open the printed address in a browser: pick a demo
image or open your own, click positive / negative points or drag a box, and see both masks with
their predicted IoU; further clicks refine with the previous mask. Undo, reset, and download the
mask PNG and the prompts as scripts/predict.py's prompt file. A checkpoint without trained HQ
parts (an official SAM / SAM 2.1 / SAM 3 file, the shipped demo base) shows plain SAM on both
sides, after a note line saying so (the page's model line says it too). "Save" writes
<stem>_mask.png, <stem>_sam_mask.png and <stem>.json into --out and nowhere else.

The server binds to 127.0.0.1 unless --host says otherwise. Exit status 2 with one error line: a
checkpoint that does not load, a port that is taken, an --out that is not a folder.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.errors import exit_on_user_error
from samhq_train.inference.command_options import (
    add_device_options,
    add_weights_options,
    check_device_options,
    decode_with_hq,
    flag_hints,
)
from samhq_train.model import CheckpointError, load_checkpoint

from .engine import AppError, Segmenter
from .server import PAGE, App, make_server

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEMO_CHECKPOINT = DEMO_BASE_DIR / "vit_demo_base.safetensors"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", nargs="?", help=f"weights (default: {DEMO_CHECKPOINT})")
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
    args = parser.parse_args(argv)
    check_device_options(parser, args)
    return args


def load_segmenter(args: argparse.Namespace) -> Segmenter:
    """The model of --checkpoint (or the demo base) on --device; AppError when it does not load."""
    path = Path(args.checkpoint) if args.checkpoint else DEMO_CHECKPOINT
    if not args.checkpoint and not path.is_file():
        raise AppError(f"the demo model {path} is missing; give a checkpoint path")
    try:
        with flag_hints():
            model = load_checkpoint(
                path, variant=args.variant, format=args.format, base_checkpoint=args.base
            )
    except (CheckpointError, OSError) as err:
        raise AppError(f"cannot load checkpoint {path}: {err}") from None
    model = model.to(args.device).eval()
    family = getattr(model, "family", "?")
    description = f"{path.name} ({family}, {model.image_size} px input, {args.device})"
    use_hq = decode_with_hq(model)
    if not use_hq:
        description += f"; HQ parts untrained: both sides are plain {model.untrained_hq.plain}"
    return Segmenter(model, description, use_hq=use_hq)


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


@exit_on_user_error
def main(argv: list[str] | None = None, *, serve: bool = True):
    """Load the model and serve the page until Ctrl-C; serve=False returns the server unstarted."""
    args = parse_args(argv)
    out_dir = check_out_dir(args.out)
    if not 0 <= args.port <= 65535:  # before the model is read (bind would raise OverflowError)
        raise AppError(f"--port {args.port}: expected a port number 0-65535 (0: any free one)")
    if not PAGE.is_file():
        raise AppError(
            f"the app's page {PAGE} is missing; install samhq-train from a clone (pip install -e .)"
        )
    check_host(args.host)
    if args.host not in LOOPBACK:
        print(
            f"warning: --host {args.host} makes the app reachable from other machines",
            file=sys.stderr,
        )
    segmenter = load_segmenter(args)
    try:
        app = App(segmenter, out_dir)
        server = make_server(app, args.host, args.port)
    except OSError as err:
        fix = (
            "give an address of this machine with --host (default 127.0.0.1)"
            if err.errno == errno.EADDRNOTAVAIL
            else "pass another --port (0: any free one)"
        )
        raise AppError(f"cannot serve on {args.host}:{args.port}: {err.strerror}; {fix}") from None
    host, port = server.server_address[:2]
    print(f"model: {segmenter.description}")
    print(
        f"serving on http://{host}:{port}/  (Ctrl-C stops it; saved files go to {out_dir})",
        flush=True,
    )
    if not serve:
        return server
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(stop_note(app, host, port))
    finally:
        server.server_close()
    return None


def stop_note(app, host, port) -> str:
    """What Ctrl-C stopped and what it left: the server, and the saves (each written whole)."""
    return (
        f"interrupted (SIGINT): stopped the app server on {host}:{port}; "
        f"{app.saves} mask(s) saved in this session, in {app.out_dir} (a save is written whole or "
        "not at all)"
    )


if __name__ == "__main__":
    main()
