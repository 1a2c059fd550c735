"""SAM's resize rule, the one home for it: data transforms and the predictor both call this.

Dependency-free on purpose, so inference can use it without importing the training stack.
"""


def resize_longest_side_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) after scaling (height, width) so that the longer side becomes ``long_side``.

    SAM's ``ResizeLongestSide`` rule, ``int(x * scale + 0.5)``, at least 1 pixel: large-scale
    jitter, the predictor-style evaluation resize and inference all use it.
    """
    scale = long_side / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))
