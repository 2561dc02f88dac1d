"""Panel queries: Elasticsearch request bodies with ``{{name}}`` placeholders, and their loader.

A query file ``dashboards/queries/<panel-id>.json`` is a plain search body. Placeholders
are ``{{from}}``, ``{{to}}`` (the time picker), ``{{interval}}`` (the date histogram's
fixed interval, Kibana's "auto") and the panel's own (``{{job_id}}``, ``{{spec_name}}``,
``{{metric}}``), filled by :func:`render`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchfarm.dashboards.panels import PANELS, Bucket, Metric, Panel, data_view
from benchfarm.errors import NotFoundError, UserInputError

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
QUERIES_DIR = DASHBOARDS_DIR / "queries"
COMMON_DEFAULTS = {"from": "now-24h", "to": "now", "interval": "10s"}
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def metric_agg_name(m: Metric) -> str:
    """The aggregation name of a metric in the query body (e.g. ``max_m.cpu_util_pct``)."""
    return f"{m.agg}_{m.field}"


def bucket_agg_name(b: Bucket) -> str:
    return "time" if b.agg == "date_histogram" else f"by_{b.field}"


def _metric_body(m: Metric) -> dict[str, Any]:
    if m.agg == "median":
        return {"percentiles": {"field": m.field, "percents": [50]}}
    if m.agg in ("max", "avg", "min", "sum"):
        return {m.agg: {"field": m.field}}
    raise ValueError(f"metric aggregation {m.agg!r} has no query form")


def _bucket_body(b: Bucket) -> dict[str, Any]:
    if b.agg == "date_histogram":
        return {"date_histogram": {"field": b.field, "fixed_interval": "{{interval}}", "min_doc_count": 1}}
    return {"terms": {"field": b.field, "size": b.size}}


def build_query(p: Panel) -> dict[str, Any]:
    """The request body behind a panel, with placeholders (what the query file holds)."""
    filters: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": "{{from}}", "lte": "{{to}}"}}}]
    filters += [{"term": {f: v}} for f, v in p.filters + p.param_filters]
    inner: dict[str, Any] = {metric_agg_name(m): _metric_body(m) for m in p.metrics if m.agg != "count"}
    for b in reversed(p.buckets):
        body = _bucket_body(b)
        if inner:
            body["aggs"] = inner
        inner = {bucket_agg_name(b): body}
    return {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": filters}}, "aggs": inner}


def placeholders(body: Any) -> set[str]:
    """Names of the ``{{name}}`` placeholders in a body."""
    return set(_PLACEHOLDER.findall(json.dumps(body)))


def render(body: Any, params: dict[str, Any]) -> Any:
    """Fill placeholders in keys and values; a value that is exactly one placeholder takes the param's type.

    Raises:
        UserInputError: a placeholder has no value.
    """
    missing = placeholders(body) - set(params)
    if missing:
        raise UserInputError(f"query parameters missing: {', '.join(sorted(missing))}",
                             hint="pass them as name=value")

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            if whole:
                return params[whole.group(1)]
            return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), value)
        return value

    return fill(body)


def load_query(panel_id: str, queries_dir: Path = QUERIES_DIR) -> dict[str, Any]:
    """The body stored in ``<queries_dir>/<panel_id>.json`` (placeholders unfilled).

    Raises:
        NotFoundError: no such query file.
    """
    path = queries_dir / f"{panel_id}.json"
    if not path.is_file():
        raise NotFoundError(f"no query file {path}", hint="regenerate: python -m benchfarm.dashboards.generate")
    return json.loads(path.read_text())


def panel_request(p: Panel, prefix: str, queries_dir: Path = QUERIES_DIR, **params: Any) -> tuple[str, dict[str, Any]]:
    """(index, filled body) for a panel: the search its Kibana visualization makes.

    Args:
        p: the panel.
        prefix: the store's index prefix (settings.index_prefix).
        params: placeholder values; from/to/interval default to the last 24 h at 10 s.
    """
    from benchfarm.store.templates import index_names

    index = index_names(prefix)[data_view(p.data_view).index_key]
    return index, render(load_query(p.id, queries_dir), {**COMMON_DEFAULTS, **params})


def write_queries(queries_dir: Path = QUERIES_DIR) -> list[Path]:
    """Write every panel's query file (the generator's second half)."""
    queries_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in PANELS:
        path = queries_dir / f"{p.id}.json"
        path.write_text(json.dumps(build_query(p), indent=2) + "\n")
        paths.append(path)
    return paths
