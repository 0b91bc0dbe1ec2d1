"""Settings read from environment variables, one reader for each kind of value.

The errors are ``ValueError`` naming the variable and its value; the caller turns
them into its own error (a store error, an ingest error) in one line.
"""

from __future__ import annotations

import os
from lineage.core.errors import UserError


def positive_number(name: str, default: float) -> float:
    """The positive number in the environment variable ``name``; ``default`` when it
    is unset or empty."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{name}={text!r} is not a number") from None
    if not value > 0:
        raise UserError(f"{name}={text!r} must be a positive number")
    return value
