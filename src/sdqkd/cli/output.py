"""Output helpers shared by the commands: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import math
import sys
from enum import StrEnum
from typing import Any

from rich.console import Console

__all__ = ["OutputFormat", "console", "print_json", "to_json_value"]

# Piped output is not cut to 80 columns: tables stay whole in files and logs.
console = Console() if sys.stdout.isatty() else Console(width=200)


class OutputFormat(StrEnum):
    """``--format`` choices."""

    TABLE = "table"
    JSON = "json"


def to_json_value(value: Any) -> Any:
    """``value`` with non-finite floats (±inf, NaN) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Print strict JSON (no NaN/Infinity) on stdout, no colour or wrapping."""
    print(json.dumps(to_json_value(data), indent=2, ensure_ascii=False, allow_nan=False))


def fmt(value: float | None, spec: str = ".4g", none: str = "—") -> str:
    """A number for a table cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return format(value, spec)
