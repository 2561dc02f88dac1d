"""The self-contained HTML report: per-job sections (facts, timelines, repetition distributions)
and a comparison section the verdicts code can add."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, select_autoescape

from benchfarm.analysis.changepoints import ChangePoint, DetectorConfig
from benchfarm.analysis.history import HistoryPoint
from benchfarm.dashboards.timelines import fmt
from benchfarm.report import plots
from benchfarm.report.data import JobData

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_PAGE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: .5em; } img { max-width: 100%; }
.muted { color: #777; } .regressed { color: #b00; font-weight: bold; } .improved { color: #070; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">generated {{ generated }} by benchfarm report</p>
{% for s in sections %}{{ s | safe }}{% endfor %}
</body></html>""")

_JOB = _ENV.from_string("""<section class="job" id="{{ job.id }}">
<h2>{{ job.name }} — <code>{{ job.id }}</code></h2>
<table>
<tr><th>status</th><td>{{ r.status }}{% if r.reason %} ({{ r.reason }}){% endif %}</td></tr>
<tr><th>image</th><td><code>{{ r.image_ref }}</code><br><code>{{ r.image_digest }}</code></td></tr>
<tr><th>host</th><td>{{ r.host_id }} (queue {{ r.queue }})</td></tr>
<tr><th>submitted / started / finished</th><td>{{ r.submitted_at }} / {{ r.started_at }} / {{ r.finished_at }}</td></tr>
<tr><th>repetitions</th><td>{{ measured }} measured, {{ warmups }} warm-up</td></tr>
{% if labels %}<tr><th>labels</th><td>\
{% for k, v in labels %}<code>{{ k }}={{ v }}</code> {% endfor %}</td></tr>{% endif %}
<tr><th>samples</th><td>{{ job.sample_count }} collector samples\
{% if r.metrics_partial %} (partial){% endif %}</td></tr>
{% if job.cost %}<tr><th>cost</th><td>{{ "%.6g" % job.cost.cost }} USD: {{ "%.4g" % job.cost.host_hours }} \
host-hours of pool {{ job.cost.pools | join(", ") }} at its price</td></tr>{% endif %}
{% for w in r.warnings or [] %}<tr><th>warning</th><td>{{ w }}</td></tr>{% endfor %}
</table>
<h3>Results over repetitions</h3>
{% if rows %}<table class="metrics"><tr><th>metric</th><th>unit</th><th>n</th><th>median</th><th>min</th><th>max</th>
<th>values</th></tr>
{% for m in rows %}<tr><td>{{ m.name }}</td><td>{{ m.unit }}</td><td class="num">{{ m.n }}</td>
<td class="num">{{ m.median }}</td><td class="num">{{ m.min }}</td><td class="num">{{ m.max }}</td>
<td class="num">{{ m.reps }}</td></tr>{% endfor %}</table>
<div class="grid">\
{% for name, src in distributions %}<img alt="distribution of {{ name }}" src="{{ src }}">{% endfor %}</div>
{% else %}<p class="muted">no measured repetitions with metrics</p>{% endif %}
<h3>Timelines</h3>
{% for name, src in timelines %}<div><img alt="{{ name }} timeline" src="{{ src }}"></div>{% endfor %}
{% if not timelines %}<p class="muted">no collector samples in Elasticsearch for this job</p>{% endif %}
</section>""")

_COMPARISON = _ENV.from_string("""<section class="comparison">
<h2>Comparison: <code>{{ cand }}</code> against baseline <code>{{ base }}</code></h2>
<p>verdict: {% if c.regressed %}<span class="regressed">regressed</span>{% elif c.improved %}
<span class="improved">improved</span>{% else %}no significant change{% endif %}</p>
<table><tr><th>metric</th><th>verdict</th><th>baseline median</th><th>candidate median</th><th>change %</th>
<th>p-value</th><th>reason</th></tr>
{% for m in c.metrics %}<tr><td>{{ m.metric }}</td><td class="{{ m.verdict }}">{{ m.verdict }}</td>
<td class="num">{{ fmt(m.baseline_median) }}</td><td class="num">{{ fmt(m.candidate_median) }}</td>
<td class="num">{{ fmt(m.change_pct) }}</td><td class="num">{{ fmt(m.p_value) }}</td><td>{{ m.reason }}</td></tr>
{% endfor %}</table>
{% for k, v in c.skipped.items() %}<p class="muted">{{ k }} not compared: {{ v }}</p>{% endfor %}
<div class="grid">{% for name, src in plots %}<img alt="comparison of {{ name }}" src="{{ src }}">{% endfor %}</div>
</section>""")


_HISTORY = _ENV.from_string("""<section class="history">
<h2>History: <code>{{ series }}</code></h2>
<p>{{ n }} jobs{% if n %}, {{ first }} to {{ last }}{% endif %}; {{ changes | length }} change point(s)
<span class="muted">(min. {{ cfg.min_segment }} jobs a side, min. change {{ "%.1f" % (cfg.min_magnitude * 100) }}%,
p &le; {{ cfg.max_p_value }})</span></p>
{% if src %}<div><img alt="history of {{ series }}" src="{{ src }}"></div>{% endif %}
{% if changes %}<table><tr><th>#</th><th>median before</th><th>median after</th><th>change %</th><th>p-value</th>
<th>last job before</th><th>first job after</th></tr>
{% for c in changes %}<tr><td class="num">{{ c.index }}</td><td class="num">{{ fmt(c.before) }}</td>
<td class="num">{{ fmt(c.after) }}</td>
<td class="num">{{ pct(c.magnitude) }}</td>
<td class="num">{{ "%.2g" % c.p_value }}</td><td><code>{{ c.job_before }}</code></td>
<td><code>{{ c.job_after }}</code> {{ c.ref_after }}</td></tr>{% endfor %}</table>
{% elif n %}<p class="muted">no change points</p>
{% else %}<p class="muted">no succeeded jobs in this series</p>{% endif %}
</section>""")



def _units(record: dict[str, Any]) -> dict[str, str]:
    metrics = ((record.get("spec") or {}).get("results") or {}).get("metrics") or {}
    return {k: str((v or {}).get("unit") or "") for k, v in metrics.items()}


def job_section(job: JobData) -> str:
    """The HTML section of one job: facts, a table and distributions of repetitions, timelines."""
    units = _units(job.record)
    values = job.metric_values()
    rows = [{"name": n, "unit": units.get(n, ""), "n": len(v), "median": fmt(statistics.median(v)),
             "min": fmt(min(v)), "max": fmt(max(v)), "reps": ", ".join(fmt(x) for x in v)}
            for n, v in sorted(values.items())]
    distributions = [(n, plots.distribution(n, v, units.get(n, ""))) for n, v in sorted(values.items())]
    timelines = [(t, src) for t in plots.TIMELINES if (src := plots.timeline(job, t))]
    reps = job.record.get("repetitions", [])
    return _JOB.render(job=job, r=job.record, rows=rows, distributions=distributions, timelines=timelines,
                       measured=len(job.measured()), warmups=len(reps) - len(job.measured()),
                       labels=sorted((job.record.get("labels") or {}).items()))


def comparison_section(baseline_job: JobData, candidate_job: JobData, comparison: Any) -> str:
    """HTML section for a verdict: a table of ``comparison.metrics`` (benchfarm.analysis.compare.Comparison)
    and baseline-vs-candidate repetition plots for each compared metric."""
    units = _units(candidate_job.record)
    base, cand = baseline_job.metric_values(), candidate_job.metric_values()
    figs = [(m.metric, plots.comparison_plot(m.metric, base[m.metric], cand[m.metric], units.get(m.metric, "")))
            for m in comparison.metrics if base.get(m.metric) and cand.get(m.metric)]
    return _COMPARISON.render(base=baseline_job.id, cand=candidate_job.id, c=comparison, fmt=fmt, plots=figs)


def history_section(series_name: str, points: list[HistoryPoint], changes: list[ChangePoint],
                    config: DetectorConfig, unit: str = "") -> str:
    """HTML section of one history series: the per-job medians with the change points marked, and a table
    of the changes with the jobs on either side (``changes`` from benchfarm.analysis.changepoints.detect)."""
    values = [p.value for p in points]
    src = plots.history_plot(series_name, values, [(c.index, c.before, c.after) for c in changes], unit) \
        if points else None
    rows = [{"index": c.index, "before": c.before, "after": c.after, "magnitude": c.magnitude,
             "p_value": c.p_value, "job_before": points[c.index - 1].job_id, "job_after": points[c.index].job_id,
             "ref_after": f"({points[c.index].git_ref})" if points[c.index].git_ref else ""} for c in changes]
    return _HISTORY.render(series=series_name, n=len(points), first=points[0].at if points else "",
                           last=points[-1].at if points else "", changes=rows, cfg=config, src=src, fmt=fmt,
                           pct=lambda m: f"{m:+.1%}" if math.isfinite(m) else "from zero")


def page(jobs: list[JobData], extra_sections: list[str] | None = None, title: str | None = None) -> str:
    """The whole self-contained page (images inline as data URIs)."""
    title = title or ("benchfarm report: " + ", ".join(j.id for j in jobs) if jobs else "benchfarm report")
    sections = [job_section(j) for j in jobs] + list(extra_sections or [])
    return _PAGE.render(title=title, generated=datetime.now(UTC).isoformat(timespec="seconds"), sections=sections)


__all__ = ["comparison_section", "fmt", "history_section", "job_section", "page"]
