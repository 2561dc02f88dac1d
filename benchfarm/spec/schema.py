"""The published JSON Schema of the job spec."""

from __future__ import annotations

import json
from typing import Any

from benchfarm.spec.model import JobSpec

SCHEMA_ID = "https://benchfarm.dev/schemas/job-spec.schema.json"


def job_spec_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a job spec."""
    schema = JobSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def job_spec_schema_text() -> str:
    return json.dumps(job_spec_schema(), indent=2, sort_keys=True) + "\n"
