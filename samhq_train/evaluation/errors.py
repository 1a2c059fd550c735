"""The error of evaluation input that cannot be used (every evaluation module raises it)."""


class EvaluationError(ValueError):
    """Evaluation input that cannot be used; the message names the file or setting to fix."""
