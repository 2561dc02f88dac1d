"""Regenerate ``dashboards/`` from the panel catalogue: ``python -m benchfarm.dashboards.generate``."""

from __future__ import annotations

from pathlib import Path

from benchfarm.dashboards.kibana import saved_objects, to_ndjson
from benchfarm.dashboards.queries import DASHBOARDS_DIR, write_queries

NDJSON_NAME = "benchfarm.ndjson"


def generate(out_dir: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write the saved objects NDJSON and every query file under ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ndjson = out_dir / NDJSON_NAME
    ndjson.write_text(to_ndjson(saved_objects()))
    return [ndjson, *write_queries(out_dir / "queries")]


if __name__ == "__main__":
    for path in generate():
        print(path)
