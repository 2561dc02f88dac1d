"""Self-contained HTML reports of jobs, for people without Kibana (``benchfarm report``)."""

from __future__ import annotations

from pathlib import Path

from benchfarm.report.data import JobData, fetch
from benchfarm.report.html import comparison_section, job_section, page

__all__ = ["JobData", "build_report", "comparison_section", "fetch", "job_section", "page", "write_report"]


def build_report(job_ids: list[str], settings, extra_sections: list[str] | None = None) -> str:
    """Fetch each job (API record + Elasticsearch samples) and render the page.

    Raises:
        NotFoundError: a job id is unknown.
        ServiceUnavailableError: the API or Elasticsearch is not answering.
    """
    from benchfarm.adapters.elasticsearch import EsClient
    from benchfarm.client import ApiClient
    from benchfarm.store.templates import index_names

    api = ApiClient.from_settings(settings)
    es = EsClient.from_settings(settings)
    try:
        metrics = index_names(settings.index_prefix)["metrics"]
        jobs = [fetch(job_id, api, es, metrics) for job_id in job_ids]
    finally:
        es.close()
    return page(jobs, extra_sections)


def write_report(job_ids: list[str], settings, output: Path) -> Path:
    """Render the report for ``job_ids`` into ``output`` (written whole, then renamed into place)."""
    text = build_report(job_ids, settings)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
