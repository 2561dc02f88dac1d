"""benchfarm.analysis: statistics of results, baseline comparison and CI verdicts.

- :mod:`.statistics`: per-metric summaries and the adaptive-repetition rule;
- :mod:`.compare`: per-metric verdicts (improved / regressed / no change) and confirmation;
- :mod:`.junit`: JUnit XML of a comparison for CI servers;
- :mod:`.baseline_ref`: parsing ``--baseline`` references.
"""

from benchfarm.analysis.baseline_ref import BaselineRef, GitRef, JobRef, LabelRef, LatestRef, parse_baseline_ref
from benchfarm.analysis.compare import (
    IMPROVED,
    NO_CHANGE,
    REGRESSED,
    Comparison,
    MetricComparison,
    compare_jobs,
    compare_metric,
    confirm,
    confirm_metric,
)
from benchfarm.analysis.junit import to_junit_xml
from benchfarm.analysis.statistics import (
    AdaptiveDecision,
    MetricSummary,
    adaptive_converged,
    adaptive_should_continue,
    summarize,
)

__all__ = [
    "IMPROVED",
    "NO_CHANGE",
    "REGRESSED",
    "AdaptiveDecision",
    "BaselineRef",
    "Comparison",
    "GitRef",
    "JobRef",
    "LabelRef",
    "LatestRef",
    "MetricComparison",
    "MetricSummary",
    "adaptive_converged",
    "adaptive_should_continue",
    "compare_jobs",
    "compare_metric",
    "confirm",
    "confirm_metric",
    "parse_baseline_ref",
    "summarize",
    "to_junit_xml",
]
