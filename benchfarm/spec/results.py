"""Extracting a repetition's metrics from what the benchmark printed or wrote."""

from __future__ import annotations

import json
import math
from typing import Any

from benchfarm.errors import BenchmarkFailedError


def _numbers(obj: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(float(v)):
            out[k] = float(v)
    return out


def parse_results(spec: Any, stdout: str, files: dict[str, bytes]) -> dict[str, float]:
    """The metrics of one repetition.

    ``json-lines``: every stdout line that is a JSON object contributes its
    numeric fields (later lines win); other lines are ignored as log output.
    ``json-file``: the JSON object in the spec's results path under /results.
    Every metric the spec declares must be present; undeclared numeric fields
    are kept too. Raises BenchmarkFailedError naming what is missing.
    """
    results = spec.results
    found: dict[str, float] = {}
    if results.format == "json-lines":
        for line in stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                found.update(_numbers(obj))
        where = "stdout (JSON lines)"
    else:
        raw = files.get(results.path)
        if raw is None:
            raise BenchmarkFailedError(f"the benchmark wrote no results file {results.path}",
                                       hint="check the image's result format and `benchfarm jobs logs`")
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise BenchmarkFailedError(f"{results.path} is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise BenchmarkFailedError(f"{results.path} must hold a JSON object of metrics")
        found = _numbers(obj)
        where = results.path
    missing = [m for m in results.metrics if m not in found]
    if missing:
        raise BenchmarkFailedError(f"metrics {', '.join(missing)} not found in {where}",
                                   hint="the spec's results.metrics must match what the benchmark reports")
    return found
