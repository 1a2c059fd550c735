"""The interactive app: a local page to click prompts and compare SAM (HQ off) with SAM-HQ masks,
and with --video a page to click objects in a video and track them (VideoPredictor), or, for SAM 3
with the detector and --bpe, to find and track every instance of a text (ConceptVideoSession).

Not used by training; only the standard library's HTTP server and the page, no extra dependency.
"""

from samhq_train.lazy_exports import lazy_exports

# each name's submodule, imported on first use (lazy_exports says why)
HOMES = {
    **dict.fromkeys(
        ("AppError", "Options", "Segmenter", "StepResult", "check_steps", "prompt_of"), "engine"),
    **dict.fromkeys(("App", "make_server"), "server"),
    "VideoSession": "video",
}
__all__ = sorted(HOMES)
__getattr__ = lazy_exports(__name__, HOMES)
