"""The farm's API fuzzed from its own OpenAPI document by schemathesis, against the running stack.

``schemathesis run --checks all`` generates valid and invalid requests for every route
(from the documented parameters and bodies, then as stateful sequences) and checks each
answer: no 5xx, every status, content type and body as documented, schema-valid requests
accepted and invalid ones refused, the token enforced, 405 with ``Allow`` for other
methods. The test fails on any failure or error it reports. ``schemathesis_hooks.py`` says
which generated requests are not sent, and why.

What the run changes on the farm is put back: the job worker is stopped, so a fuzzed
submission that happens to be valid stays queued, and is cancelled afterwards; hosts that
fuzzed host events registered are removed and the real hosts' records restored.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.client import ApiClient
from benchfarm.elastic.store import DEFINITIONS_KEY, SHARES_KEY
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.schedules.repository import ScheduleRepository

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
# the fuzz defines and edits elastic pools too: they are put back as they were, so no pool it made outlives it
HOST_HASHES = (HostRegistry.KEY, HostRegistry.HEARTBEAT_KEY, HostRegistry.WORKER_KEY, REASONS_KEY, DEFINITIONS_KEY,
               SHARES_KEY)
RESTORED_VALUES = (HostRegistry.KEY, REASONS_KEY, DEFINITIONS_KEY, SHARES_KEY)  # heartbeats keep moving: extras go
MAX_EXAMPLES = 50  # per operation and phase: under a minute on two cores
ACTIVE = ("submitted", "queued", "running")


def _schemathesis() -> str | None:
    beside_python = Path(sys.executable).with_name("schemathesis")
    return str(beside_python) if beside_python.exists() else shutil.which("schemathesis")


@pytest.fixture
def stopped_worker(farm):
    """The stack's job worker, stopped for the test and started again afterwards."""
    svc = farm.service("worker")
    svc.down()
    yield svc
    svc.up(lambda m: None)


@pytest.fixture
def real_hosts(farm, settings):
    """The registered hosts' ids; afterwards the host registry, the elastic pools and the schedules are as they
    were."""
    kv = RedisKV.from_settings(settings)
    schedules = ScheduleRepository(kv)
    # schedules the fuzz added go too, before the worker (whose housekeeping fires schedules) starts again
    hashes = (*HOST_HASHES, schedules.key, schedules.last_key)
    before = {key: kv.hgetall(key) for key in hashes}
    yield sorted(before[HostRegistry.KEY])
    for key in hashes:
        now = kv.hgetall(key)
        for field in set(now) - set(before[key]):
            kv.hdel(key, field)
        if key in RESTORED_VALUES:
            for field, value in before[key].items():
                if now.get(field) != value:
                    kv.hset(key, field, value)


@pytest.fixture
def new_jobs_cancelled(farm, settings):
    """Afterwards, every job the test created that is not final is cancelled."""
    api = ApiClient.from_settings(settings)
    before = {job["id"] for job in api.jobs(limit=1000)}
    yield
    for job in api.jobs(limit=1000):
        if job["id"] not in before and job["status"] in ACTIVE:
            api.cancel(job["id"])


def _failures(junit: Path) -> tuple[int, int, int]:
    """(test cases, failures, errors) of schemathesis' JUnit report."""
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return (sum(int(s.get("tests", 0)) for s in suites), sum(int(s.get("failures", 0)) for s in suites),
            sum(int(s.get("errors", 0)) for s in suites))


# the order of the fixtures is the order of their teardown, reversed: jobs cancelled before the worker is back
def test_api_fuzzed_from_its_openapi_document_finds_no_failure(settings, stopped_worker, real_hosts,
                                                               new_jobs_cancelled, tmp_path):
    exe = _schemathesis()
    if exe is None:
        pytest.skip("schemathesis is installed by the test extra")
    junit = tmp_path / "schemathesis.xml"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "BENCHFARM_FUZZ_PROTECTED_HOSTS": ",".join(real_hosts),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    res = subprocess.run(
        [exe, "run", f"{settings.effective_api_url}/openapi.json", "--checks", "all",
         "-H", f"Authorization: Bearer {settings.resolved_api_token()}",
         "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--workers", "1",
         "--request-timeout", "10", "--no-color", "--report", "junit", "--report-junit-path", str(junit)],
        check=False, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    output = res.stdout[-6000:] + res.stderr[-2000:]
    assert junit.exists(), output
    tests, failures, errors = _failures(junit)
    last = next((line for line in reversed(res.stdout.splitlines()) if line.startswith("=")), "")
    summary = re.findall(r"\b(\d+) (failures?|errors?)\b", last)  # "=== 2 failures, 1 warning in 9.9s ==="
    assert (failures, errors, summary, res.returncode) == (0, 0, [], 0), output
    assert tests > 0, output
