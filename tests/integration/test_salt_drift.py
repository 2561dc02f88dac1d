"""Drift on a real test minion: a hand edit of a file the farm's states manage is reported by
`benchfarm hosts drift` (real CLI, real `state.apply test=True` through the master) naming the
host and the state, and the next apply clears it. Real salt-master, an extra real salt-minion."""

from __future__ import annotations

import json

import pytest
import yaml

from benchfarm.composition import Farm
from tests.integration.jobs_support import cli
from tests.integration.salt_minions import (
    apply_states,
    changed,
    remove_minions,
    start_minion,
    unique_id,
    wait_answering,
    wait_provisioned,
)

pytestmark = pytest.mark.integration
CONFIG_STATE = "benchfarm-worker-config-file"


@pytest.fixture(scope="module")
def drift_minion(farm, settings):
    master = Farm(settings).salt
    minion = start_minion(settings, unique_id("bf-test-drift"), "pool-drift")
    try:
        wait_answering(master, [minion])
        wait_provisioned(settings, master, [minion])
        yield master, minion
    finally:
        remove_minions(settings, [minion])


def _drift(minion_id: str) -> tuple[int, list[dict]]:
    proc = cli("hosts", "drift", "--json", "--target", minion_id)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_planted_drift_is_reported_and_cleared_by_apply(drift_minion):
    master, minion = drift_minion
    mid = minion.minion_id
    changed(apply_states(master, mid))  # provisioned as the states say
    code, report = _drift(mid)
    assert code == 0 and [h["host_id"] for h in report] == [mid], report
    assert report[0]["drifted"] is False and report[0]["error"] is None, report

    config = minion.root / "etc/benchfarm/config.yaml"
    declared = yaml.safe_load(config.read_text())
    config.write_text("pool: hand-edited-on-the-host\n")  # the drift: nobody edits a pool host by hand

    code, report = _drift(mid)
    assert code == 1, report
    (host,) = report
    assert host["host_id"] == mid and host["drifted"] is True, host
    items = {i["state_id"]: i for i in host["items"]}
    assert set(items) == {CONFIG_STATE}, items
    assert items[CONFIG_STATE]["name"] == str(config)
    assert items[CONFIG_STATE]["function"] == "file.serialize"
    assert config.read_text() == "pool: hand-edited-on-the-host\n"  # test mode changed nothing

    assert set(changed(apply_states(master, mid))) == {CONFIG_STATE}  # re-provisioning reverts it
    assert yaml.safe_load(config.read_text()) == declared
    code, report = _drift(mid)
    assert code == 0 and report[0]["host_id"] == mid and report[0]["drifted"] is False, report
    assert report[0]["items"] == []
