"""What an AWS error says, read without importing botocore (the pure services and the tests' fakes raise their
own exceptions carrying the same ``response`` shape as ``botocore.exceptions.ClientError``)."""

from __future__ import annotations

from collections.abc import Mapping

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"


def error_code(exc: BaseException) -> str:
    """``exc.response["Error"]["Code"]``, or "" for anything that is not an AWS error."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return ""
    error = response.get("Error")
    return str(error.get("Code", "")) if isinstance(error, Mapping) else ""


def lost_condition(exc: BaseException) -> bool:
    """The write's condition was false: someone else wrote first (or the item is gone)."""
    return error_code(exc) == CONDITIONAL_CHECK_FAILED
