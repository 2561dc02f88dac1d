"""Rich tables of a campaign: its jobs, and the side-by-side comparison (``GET /campaigns/{id}/compare``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{ci[0]:.4g}, {ci[1]:.4g}]"


def jobs_table(view: dict[str, Any]) -> Table:
    """One row per job: target, point, status, host, hardware class, reason."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(view["counts"].items()))
    table = Table(title=f"campaign {view['id']} — {view['name']}: {view['status']} ({counts})")
    for col in ("target", "point", "job", "status", "host", "hardware class", "reason"):
        table.add_column(col)
    for j in view["jobs"]:
        point = ",".join(f"{k}={v}" for k, v in j["point"].items()) or "-"
        table.add_row(j["target"], point, j.get("job_id") or "-", j["status"], j.get("host_id") or "-",
                      j.get("hardware_class") or "-", j.get("reason") or "")
    return table


def _short(group: dict[str, Any]) -> str:
    return str(group.get("pool") or group["hardware_class"])


def groups_table(data: dict[str, Any]) -> Table:
    """The groups compared: pool, hardware class, hosts, price (the reference marked)."""
    table = Table(title=f"campaign {data['campaign_id']} — {data['name']}: {data['succeeded']}/{data['total']} "
                        "jobs succeeded; groups by pool and hardware class")
    for col in ("group", "hardware class", "hosts", "USD/host-hour"):
        table.add_column(col)
    for g in data["groups"]:
        ref = " (reference)" if g["key"] == data["reference"] else ""
        price = f"{g['price_per_hour']:g} ({g['price_source']})" if g.get("price_per_hour") else "-"
        table.add_row(_short(g) + ref, g["hardware_class"], ", ".join(g["hosts"]), price)
    return table


def metric_table(data: dict[str, Any], metric: dict[str, Any]) -> Table:
    """Side by side: one row per point; per group its median [95% CI], ratio to the reference [CI], perf/$."""
    groups = data["groups"]
    priced = any(g.get("price_per_hour") for g in groups) and metric["direction"] == "higher"
    unit = f" ({metric['unit']})" if metric.get("unit") else ""
    ref = next((_short(g) for g in groups if g["key"] == data["reference"]), data["reference"])
    table = Table(title=f"{metric['name']}{unit}, {metric['direction']} is better — median [95% CI], "
                        f"ratio to {ref}" + (", per USD/host-hour" if priced else ""))
    table.add_column("point")
    for g in groups:
        table.add_column(f"{_short(g)} median", justify="right")
        table.add_column(f"{_short(g)} ×{ref}", justify="right")
        if priced:
            table.add_column(f"{_short(g)} perf/$", justify="right")
    cells = {(c["group"], c["point"]): c for c in metric["cells"]}
    for point in data["points"]:
        row = [point]
        for g in groups:
            c = cells.get((g["key"], point))
            if c is None:
                row += ["-", "-"] + (["-"] if priced else [])
                continue
            row.append(f"{_n(c['median'])}{_ci(c['ci'])} n={c['n']}")
            row.append(f"{_n(c['ratio'])}{_ci(c['ratio_ci'])}")
            if priced:
                row.append(f"{_n(c['per_dollar'])}{_ci(c['per_dollar_ci'])}")
        table.add_row(*row)
    return table


def scaling_table(data: dict[str, Any]) -> Table | None:
    """Each scaling curve: median against the swept axis, ideal linear scaling and the efficiency."""
    curves = data.get("scaling") or []
    if not curves:
        return None
    table = Table(title=f"scaling over {curves[0]['axis']} (ideal: linear from the smallest value)")
    for col in ("group", "metric", "other axes", curves[0]["axis"], "median", "ideal", "efficiency"):
        table.add_column(col, justify="right" if col in ("median", "ideal", "efficiency") else "left")
    names = {g["key"]: _short(g) for g in data["groups"]}
    for curve in curves:
        for p in curve["points"]:
            table.add_row(names.get(curve["group"], curve["group"]), curve["metric"], curve["rest"] or "-",
                          f"{p['x']:g}", _n(p["median"]), _n(p["ideal"]), f"{p['efficiency'] * 100:.0f}%")
    return table


def failures_lines(data: dict[str, Any]) -> list[str]:
    """One line per job that did not succeed, naming it and why."""
    return [f"{f['status']}: job {f.get('job_id') or '-'} ({f['target']}, {f['point']}) on "
            f"{f.get('host_id') or '-'}: {f.get('reason') or 'no reason recorded'}" for f in data.get("failures", [])]
