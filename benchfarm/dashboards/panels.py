"""The dashboards' panels, described once.

Each :class:`Panel` is the single source of both artefacts under ``dashboards/``:

- the Kibana ``visualization`` saved object (``visState`` aggregations), and
- the Elasticsearch request body in ``dashboards/queries/<panel-id>.json`` that the
  tests run against the real Elasticsearch.

How one maps to the other (see :mod:`benchfarm.dashboards.kibana` and
:mod:`benchfarm.dashboards.queries`):

======================================  ============================================================
Kibana visualization                    query file
======================================  ============================================================
data view of the panel                  index the loader searches (``Panel.data_view`` -> index)
fixed KQL in searchSourceJSON           ``term`` filters of ``Panel.filters`` (same field, value)
dashboard query bar ``job_id : "<id>"`` ``{"term": {"job_id": "{{job_id}}"}}`` (``Panel.params``)
time picker range                       ``range @timestamp gte {{from}} lte {{to}}``
``date_histogram`` interval ``auto``    ``date_histogram fixed_interval {{interval}}``
``terms`` bucket (split series)         ``terms`` aggregation, same field and size, nested in order
metric ``max``/``avg``/``count``        ``max``/``avg``/``value_count`` of the same field
metric ``median``                       ``percentiles`` [50] of the same field
======================================  ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One y-axis value: an aggregation of a numeric field (``field`` may hold ``{{metric}}``)."""

    agg: str  # max | min | avg | median | count
    field: str = ""
    label: str = ""


@dataclass(frozen=True)
class Bucket:
    """One x-axis or split: ``date_histogram`` on @timestamp, or ``terms`` on a keyword field."""

    agg: str  # date_histogram | terms
    field: str = "@timestamp"
    size: int = 10


@dataclass(frozen=True)
class Panel:
    """A visualization on a dashboard, and the query behind it."""

    id: str
    title: str
    dashboard: str
    data_view: str  # metrics | results | jobs | changepoints | pool_events
    vis_type: str  # line | histogram
    filters: tuple[tuple[str, str], ...]  # fixed (field, value) term filters
    buckets: tuple[Bucket, ...]  # outermost first; the first date_histogram is the x-axis
    metrics: tuple[Metric, ...]
    params: tuple[str, ...] = ()  # placeholders besides from/to/interval, filled by the loader
    param_filters: tuple[tuple[str, str], ...] = ()  # (field, placeholder) filters from the query bar
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    description: str
    query_hint: str  # what a user types in Kibana's query bar (the parameterised filters)


@dataclass(frozen=True)
class DataView:
    id: str
    index_key: str  # key of benchfarm.store.templates.index_names
    time_field: str = "@timestamp"
    name: str = ""


DATA_VIEWS = (
    DataView("benchfarm-metrics-dv", "metrics", name="benchfarm metrics (collector samples)"),
    DataView("benchfarm-results-dv", "results", name="benchfarm results (repetitions and summaries)"),
    DataView("benchfarm-jobs-dv", "jobs", name="benchfarm jobs (@timestamp = submitted)"),
    DataView("benchfarm-changepoints-dv", "changepoints",
             name="benchfarm change points (@timestamp = first job of the new level)"),
    DataView("benchfarm-pool-events-dv", "pool_events",
             name="benchfarm pool events (autoscaler decisions; host-hours and cost per host and per job)"),
)

DASHBOARDS = (
    Dashboard("benchfarm-job-run", "benchfarm: Job run",
              "CPU, memory, I/O and GPU timelines of one job. Type job_id : \"<id>\" in the query bar.",
              'job_id : "{{job_id}}"'),
    Dashboard("benchfarm-farm", "benchfarm: Farm", "Jobs over time by pool and status; host utilisation.", ""),
    Dashboard("benchfarm-trends", "benchfarm: Benchmark trends",
              "Median of a result metric over time by image digest and by git ref. Filter spec_name in the "
              "query bar; the panels show m.events_per_second (edit the metric field to chart another).",
              'spec_name : "{{spec_name}}"'),
    Dashboard("benchfarm-campaigns", "benchfarm: Campaign",
              "One campaign side by side: the median of a result metric at each parameter point, by pool and "
              "hardware class. Type labels.benchfarm_campaign : \"<id>\" in the query bar; the panel shows "
              "m.events_per_second (edit the metric field to chart another).",
              'labels.benchfarm_campaign : "{{campaign_id}}"'),
    Dashboard("benchfarm-costs", "benchfarm: Costs",
              "What the elastic pools cost: host-hours and spend per pool (a host's lifetime, recorded when it "
              "is destroyed, at its pool's price per host-hour) and per job (its share of its host's time). "
              "Filter pool in the query bar.", 'pool : "{{pool}}"'),
)

_TIME = Bucket("date_histogram")
_JOB = (("job_id", "{{job_id}}"),)
_SPEC = (("spec_name", "{{spec_name}}"),)
_CAMPAIGN = (("labels.benchfarm_campaign", "{{campaign_id}}"),)
_POOL = (("pool", "{{pool}}"),)
_COST = (Metric("sum", "cost", "cost (USD)"), Metric("sum", "host_hours", "host-hours"))

PANELS = (
    Panel("job-cpu-host", "Job run: CPU utilisation (host, job cpuset)", "benchfarm-job-run", "metrics", "line",
          (("collector", "host"),), (_TIME,),
          (Metric("max", "m.cpuset_util_pct", "job cpuset %"), Metric("max", "m.cpu_util_pct", "all CPUs %")),
          ("job_id",), _JOB),
    Panel("job-cpu-container", "Job run: container CPU (cgroup)", "benchfarm-job-run", "metrics", "line",
          (("collector", "cgroup"),), (_TIME,), (Metric("max", "m.cpu_util_pct", "container CPU %"),),
          ("job_id",), _JOB),
    Panel("job-memory", "Job run: container memory", "benchfarm-job-run", "metrics", "line",
          (("collector", "cgroup"),), (_TIME,), (Metric("max", "m.memory_usage_bytes", "memory bytes"),),
          ("job_id",), _JOB),
    Panel("job-io", "Job run: container I/O", "benchfarm-job-run", "metrics", "line",
          (("collector", "cgroup"),), (_TIME,),
          (Metric("max", "m.io_read_bytes_per_s", "read B/s"), Metric("max", "m.io_write_bytes_per_s", "write B/s")),
          ("job_id",), _JOB),
    Panel("job-gpu", "Job run: GPU 0", "benchfarm-job-run", "metrics", "line",
          (("collector", "gpu"),), (_TIME,),
          (Metric("max", "m.gpu0_util_pct", "GPU util %"), Metric("max", "m.gpu0_mem_util_pct", "GPU mem util %"),
           Metric("max", "m.gpu0_power_w", "power W")),
          ("job_id",), _JOB),
    Panel("farm-jobs-by-pool-status", "Farm: jobs over time by pool and status", "benchfarm-farm", "jobs",
          "histogram", (), (_TIME, Bucket("terms", "pool", 20), Bucket("terms", "status", 10)),
          (Metric("count", "job_id", "jobs"),)),
    Panel("farm-host-utilisation", "Farm: host CPU utilisation", "benchfarm-farm", "metrics", "line",
          (("collector", "host"),), (_TIME, Bucket("terms", "host_id", 50)),
          (Metric("avg", "m.cpu_util_pct", "CPU %"),)),
    Panel("trends-by-image", "Benchmark trends: median by image digest", "benchfarm-trends", "results", "line",
          (("doc_type", "repetition"),), (Bucket("terms", "image_digest", 20), _TIME),
          (Metric("median", "m.{{metric}}", "median"),), ("spec_name", "metric"), _SPEC),
    Panel("trends-by-git-ref", "Benchmark trends: median by git ref", "benchfarm-trends", "results", "line",
          (("doc_type", "repetition"),), (Bucket("terms", "git_ref", 20), _TIME),
          (Metric("median", "m.{{metric}}", "median"),), ("spec_name", "metric"), _SPEC),
    Panel("trends-changepoints", "Benchmark trends: change points by series", "benchfarm-trends", "changepoints",
          "histogram", (), (_TIME, Bucket("terms", "series", 20)),
          (Metric("count", "job_after", "change points"), Metric("avg", "magnitude", "relative change")),
          ("spec_name",), _SPEC,
          "Change points `benchfarm history --changes` stored, by series (benchmark|metric|hardware|branch); "
          "magnitude is the relative change of the median (0.05 = +5%)."),
    Panel("campaign-median-by-class", "Campaign: median by point, pool and hardware class", "benchfarm-campaigns",
          "results", "histogram", (("doc_type", "repetition"), ("warmup", "false")),
          (Bucket("terms", "labels.benchfarm_point", 50), Bucket("terms", "pool", 20),
           Bucket("terms", "hardware.class", 20)),
          (Metric("median", "m.{{metric}}", "median"),), ("campaign_id", "metric"), _CAMPAIGN,
          "Every measured repetition of the campaign's jobs; groups are pools and hardware classes, not hosts."),
    Panel("costs-by-pool", "Costs: spend and host-hours per pool", "benchfarm-costs", "pool_events", "histogram",
          (("kind", "host-usage"),), (_TIME, Bucket("terms", "pool", 20)), _COST, ("pool",), _POOL,
          "Each destroyed host's lifetime from its creation, at its pool's price, on the day it was destroyed."),
    Panel("costs-by-job", "Costs: spend per job", "benchfarm-costs", "pool_events", "histogram",
          (("kind", "job-cost"),), (_TIME, Bucket("terms", "job_id", 50)), _COST, ("pool",), _POOL,
          "A job's share of its host's time (claim to end) at its pool's price."),
)

DEFAULT_METRIC = "events_per_second"  # what the saved Kibana trends panels chart


def panel(panel_id: str) -> Panel:
    """The panel with this id.

    Raises:
        NotFoundError: no such panel.
    """
    from benchfarm.errors import NotFoundError

    for p in PANELS:
        if p.id == panel_id:
            return p
    raise NotFoundError(f"no dashboard panel {panel_id!r}", hint=f"panels: {', '.join(p.id for p in PANELS)}")


def data_view(key: str) -> DataView:
    return next(dv for dv in DATA_VIEWS if dv.index_key == key)

