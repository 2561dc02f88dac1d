"""Shared console helpers for CLI handlers: output, JSON, progress."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (for ``--json`` flags)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def progress(message: str) -> None:
    """One line of progress on stderr, so stdout stays clean for --json."""
    err.print(f"[dim]…[/dim] {message}", highlight=False)
