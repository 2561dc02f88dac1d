"""A small fault campaign (issue 12): `bench/faults.py` on two real nodes, one fault of each of the six kinds,
and its checker must find no violation.

The script does everything for real: `benchfarm nodes add` (CLI), jobs through the API client, a worker
SIGKILLed in a node, a node killed and added again, a node cut off from the node network and connected again,
a node's dockerd killed, and a `kill -9` of the stack's Redis and Elasticsearch (its supervisor brings them
back: one of each here, as they disturb everyone using the stack). The checker then reads every job from Redis
and Elasticsearch. The script removes its nodes and host records itself; the finaliser here does it again in
case the script was killed on its timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfarm.composition import Farm
from benchfarm.nodes.image import NodeImage
from benchfarm.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TAG = uuid.uuid4().hex[:6]
NODES = 2
KINDS = {"worker-kill", "node-kill", "partition", "dockerd-restart", "redis-restart", "es-restart"}


def _progress(message: str) -> None:
    sys.stderr.write(f"[fault-campaign] {message}\n")


@pytest.fixture
def leftovers(farm, settings: Settings) -> Iterator[None]:
    """Removes the campaign's nodes and host records if the script could not (killed on its timeout)."""
    yield
    node_farm = Farm(settings)
    try:
        for i in range(NODES):
            name = f"f12-{TAG}-n{i}"
            node_farm.nodes.remove(name, _progress)
            node_farm.host_registry.remove(name)
    finally:
        node_farm.close()


def test_a_small_fault_campaign_finds_no_violation(node_image: NodeImage, busybox_image: str,
                                                  leftovers: None) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "faults.py"), "--jobs", "16", "--faults", "6", "--seed", "12",
            "--nodes", str(NODES), "--tag", TAG, "--image", busybox_image, "--gap", "1", "--drain-s", "200",
            "--settle-s", "60", "--progress-s", "20", "--json"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    sys.stderr.write(res.stderr[-6000:])
    assert res.returncode in (0, 1), f"the campaign did not run ({res.returncode}):\n{res.stderr[-3000:]}"
    figures = json.loads(res.stdout)
    assert figures["jobs_submitted"] == 16 and figures.get("jobs") == 16, figures
    assert set(figures["faults_by_kind"]) == KINDS and figures["faults"] == 6, figures
    assert figures["violations"] == 0 and res.returncode == 0, "\n".join(figures["violation_list"])
