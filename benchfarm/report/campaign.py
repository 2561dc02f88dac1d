"""The HTML report of a campaign: groups, side-by-side tables per metric with plots, scaling curves, failures.

It renders the API's comparison (``GET /campaigns/{id}/compare``) as it is, so the page, the
CLI table and ``--json`` always show the same numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from jinja2 import Environment, select_autoescape

from benchfarm.dashboards.timelines import fmt
from benchfarm.report.plots import _png

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_SECTION = _ENV.from_string("""<section class="campaign" id="{{ c.campaign_id }}">
<h2>Campaign {{ c.name }} — <code>{{ c.campaign_id }}</code></h2>
<p>{{ c.succeeded }} of {{ c.total }} jobs succeeded; status {{ view.status }}; targets {{ view.targets | join(", ") }}.
Groups are (pool, hardware class), not host names; the reference is <b>{{ c.reference }}</b>.</p>
<table><tr><th>group</th><th>hardware class</th><th>hosts</th><th>USD / host-hour</th></tr>
{% for g in c.groups %}<tr><td>{{ g.pool or "-" }}</td><td>{{ g.hardware_class }}</td>
<td>{{ g.hosts | join(", ") }}</td>
<td class="num">{% if g.price_per_hour %}{{ fmt(g.price_per_hour) }} ({{ g.price_source }}){% else %}-{% endif %}</td>
</tr>{% endfor %}</table>
{% for m in metrics %}<h3>{{ m.name }}{% if m.unit %} ({{ m.unit }}){% endif %}, {{ m.direction }} is better</h3>
<table><tr><th>point</th><th>group</th><th>n</th><th>median</th><th>95% CI</th><th>ratio to reference</th>
<th>ratio 95% CI</th><th>per USD/host-hour</th></tr>
{% for cell in m.cells %}<tr><td>{{ cell.point }}</td><td>{{ cell.group }}</td><td class="num">{{ cell.n }}</td>
<td class="num">{{ fmt(cell.median) }}</td><td class="num">{{ ci(cell.ci) }}</td>
<td class="num">{{ fmt(cell.ratio) }}</td>
<td class="num">{{ ci(cell.ratio_ci) }}</td><td class="num">{{ fmt(cell.per_dollar) }}</td></tr>{% endfor %}</table>
<img alt="medians of {{ m.name }} by group" src="{{ m.plot }}">
{% endfor %}
{% if scaling %}<h3>Scaling</h3><div class="grid">{% for name, src in scaling %}
<img alt="scaling of {{ name }}" src="{{ src }}">{% endfor %}</div>{% endif %}
{% if c.failures %}<h3>Jobs that did not succeed</h3><table><tr><th>job</th><th>target</th><th>point</th>
<th>status</th><th>reason</th></tr>{% for f in c.failures %}<tr><td><code>{{ f.job_id or "-" }}</code></td>
<td>{{ f.target }}</td><td>{{ f.point }}</td><td class="regressed">{{ f.status }}</td><td>{{ f.reason or "" }}</td></tr>
{% endfor %}</table>{% endif %}
</section>""")



def ci(interval: list[float] | None) -> str:
    return "-" if not interval else f"{interval[0]:.4g} – {interval[1]:.4g}"


def medians_plot(data: dict[str, Any], metric: dict[str, Any]) -> str:
    """Grouped bars: for each point, each group's median with its 95% CI as an error bar."""
    groups = [g["key"] for g in data["groups"]]
    points = data["points"]
    cells = {(c["group"], c["point"]): c for c in metric["cells"]}
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(points) * max(1, len(groups)) / 2), 3))
    width = 0.8 / max(1, len(groups))
    for gi, group in enumerate(groups):
        xs, ys, lo, hi = [], [], [], []
        for pi, point in enumerate(points):
            c = cells.get((group, point))
            if c is None or c["median"] is None:
                continue
            xs.append(pi + (gi - (len(groups) - 1) / 2) * width)
            ys.append(c["median"])
            low, high = c["ci"] or (c["median"], c["median"])
            # a bootstrap interval need not contain the median (few repetitions, ties): the table shows it as
            # it is, the bar's whiskers stop at the median rather than point the wrong way
            lo.append(max(0.0, c["median"] - low))
            hi.append(max(0.0, high - c["median"]))
        ax.bar(xs, ys, width=width * 0.95, yerr=[lo, hi], capsize=3, label=group)
    ax.set_xticks(range(len(points)), points, fontsize=8)
    ax.set_title(metric["name"], loc="left", fontsize=10)
    ax.set_ylabel(metric.get("unit") or "")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def scaling_plot(curves: list[dict[str, Any]], unit: str = "") -> str:
    """Median against the swept axis per group (with CIs), and ideal linear scaling dashed."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for curve in curves:
        xs = [p["x"] for p in curve["points"]]
        ys = [p["median"] for p in curve["points"]]
        err_lo = [max(0.0, p["median"] - (p["ci"] or [p["median"]] * 2)[0]) for p in curve["points"]]  # as above
        err_hi = [max(0.0, (p["ci"] or [p["median"]] * 2)[1] - p["median"]) for p in curve["points"]]
        label = curve["group"] + (f" ({curve['rest']})" if curve["rest"] else "")
        line = ax.errorbar(xs, ys, yerr=[err_lo, err_hi], marker="o", capsize=3, label=label)
        ax.plot(xs, [p["ideal"] for p in curve["points"]], ls="--", color=line[0].get_color(), alpha=0.6,
                label=f"ideal, {label}")
    first = curves[0]
    ax.set_xlabel(first["axis"])
    ax.set_ylabel(unit)
    ax.set_title(f"{first['metric']}: scaling over {first['axis']}", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def campaign_section(view: dict[str, Any], data: dict[str, Any]) -> str:
    """The HTML section of a campaign from its view (``GET /campaigns/{id}``) and comparison."""
    metrics = [{**m, "plot": medians_plot(data, m)} for m in data["metrics"] if m["cells"]]
    units = {m["name"]: m.get("unit") or "" for m in data["metrics"]}
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for curve in data.get("scaling") or []:
        by_metric.setdefault(curve["metric"], []).append(curve)
    scaling = [(name, scaling_plot(curves, units.get(name, ""))) for name, curves in by_metric.items()]
    return _SECTION.render(c=data, view=view, metrics=metrics, scaling=scaling, fmt=fmt, ci=ci)


def campaign_page(view: dict[str, Any], data: dict[str, Any]) -> str:
    """A whole self-contained page for one campaign (images inline)."""
    from benchfarm.report.html import _PAGE

    return _PAGE.render(title=f"benchfarm campaign {data['name']} ({data['campaign_id']})",
                        generated=datetime.now(UTC).isoformat(timespec="seconds"),
                        sections=[campaign_section(view, data)])
