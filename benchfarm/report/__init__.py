"""Self-contained HTML reports of jobs, for people without Kibana (``benchfarm report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from benchfarm.analysis.changepoints import DetectorConfig
from benchfarm.analysis.history import SeriesKey
from benchfarm.report.data import ApiReader, JobData, SampleSearch, fetch
from benchfarm.report.html import comparison_section, history_section, job_section, page

__all__ = ["JobData", "build_report", "comparison_section", "fetch", "history_sections", "job_section", "page",
           "write_report"]


class SummarySource(Protocol):
    """The store call a history section makes (benchfarm.store.repository.StoreRepository.job_summaries)."""

    def job_summaries(self, query: dict[str, Any]) -> list[dict[str, Any]]: ...


def history_sections(keys: list[SeriesKey], store: SummarySource, config: DetectorConfig | None = None) -> list[str]:
    """One history section per series: its jobs' medians read from the store, change points detected afresh
    with ``config`` (the same detector and defaults as `benchfarm history --changes`, nothing stored).

    Raises:
        ServiceUnavailableError: Elasticsearch is not answering.
    """
    from benchfarm.analysis.changepoints import detect
    from benchfarm.analysis.history import build_series

    cfg = config or DetectorConfig()
    sections = []
    for key in keys:
        series = build_series(store.job_summaries(key.query()), key.metric)
        changes = detect([p.value for p in series], cfg)
        sections.append(history_section(key.name(), series, changes, cfg))
    return sections


def build_report(job_ids: list[str], api: ApiReader, es: SampleSearch, index_prefix: str,
                 extra_sections: list[str] | None = None, baseline: str | None = None) -> str:
    """Fetch each job (API record + Elasticsearch samples) and render the page.

    With ``baseline`` (a job id, ``label:K=V``, ``BRANCH@REF`` or ``latest``), each
    job gains a comparison section: the baseline the farm resolves for it and the
    verdict per metric, with both distributions side by side.

    Raises:
        NotFoundError: a job id is unknown.
        ServiceUnavailableError: the API or Elasticsearch is not answering.
    """
    from benchfarm.store.templates import index_names

    names = index_names(index_prefix)
    metrics = names["metrics"]
    jobs = [fetch(job_id, api, es, metrics, names["pool_events"]) for job_id in job_ids]
    sections = list(extra_sections or [])
    if baseline is not None:
        from benchfarm.analysis.job_compare import compare_records
        from benchfarm.jobs.model import JobRecord

        for cand in jobs:
            verdict = api.get(f"/jobs/{cand.id}/compare", baseline=baseline).json()
            base = fetch(verdict["baseline_id"], api, es, metrics)
            comparison = compare_records(JobRecord.model_validate(base.record),
                                         JobRecord.model_validate(cand.record))
            sections.append(comparison_section(base, cand, comparison))
    return page(jobs, sections)


def write_report(job_ids: list[str], api: ApiReader, es: SampleSearch, index_prefix: str, output: Path,
                 baseline: str | None = None, extra_sections: list[str] | None = None) -> Path:
    """Render the report for ``job_ids`` (and ``extra_sections``, e.g. history) into ``output`` (written whole,
    then renamed into place)."""
    text = build_report(job_ids, api, es, index_prefix, extra_sections=extra_sections, baseline=baseline)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
