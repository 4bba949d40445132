"""Values from runs and rows as JSON: what events, stored runs and API answers hold."""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import Any


def public_value(value: Any) -> Any:
    """Parameters and metrics as JSON-friendly scalars."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def json_value(value: Any) -> Any:
    """A cell of any Arrow type as JSON: containers kept, dates and times in ISO form, bytes in
    base64, numbers JSON cannot hold (NaN, decimals, infinities) and the rest as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)
