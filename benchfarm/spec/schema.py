"""The published JSON Schema of the job spec, generated from the pydantic models.

docs/job-spec.schema.json is this schema committed; a unit test keeps the two equal.
Regenerate with ``benchfarm spec schema > docs/job-spec.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from benchfarm.spec.model import JobSpec

SCHEMA_ID = "https://benchfarm.dev/schemas/job-spec.schema.json"


def job_spec_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a job spec, with its ``$schema`` and ``$id``."""
    schema = JobSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "benchfarm job spec", **{k: v for k, v in schema.items() if k != "title"}}


def job_spec_schema_text() -> str:
    """The schema as the committed file holds it: indented, keys sorted, a final newline."""
    return json.dumps(job_spec_schema(), indent=2, sort_keys=True) + "\n"
