"""The error of evaluation input that cannot be used (every evaluation module raises it)."""

from samhq_train.errors import UserError


class EvaluationError(UserError, ValueError):
    """Evaluation input that cannot be used; the message names the file or setting to fix."""
