"""The interactive app: a local page to click prompts and compare SAM (HQ off) with SAM-HQ masks,
and with --video a page to click objects in a video and track them (VideoPredictor), or, for SAM 3
with the detector and --bpe, to find and track every instance of a text (ConceptVideoSession).

Not used by training; only the standard library's HTTP server and the page, no extra dependency.
"""

from .engine import AppError, Options, Segmenter, StepResult, check_steps, prompt_of
from .server import App, make_server
from .video import VideoSession

__all__ = [
    "App", "AppError", "Options", "Segmenter", "StepResult", "check_steps",
    "VideoSession", "make_server", "prompt_of",
]
