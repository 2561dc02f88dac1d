"""The benchfarm formula applied for real with `salt-call --local` in a temporary config dir.

Real Salt, real Docker engine for the image state; every managed path sits under a
temporary `root` passed by pillar, so this machine's /etc is untouched.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import docker
import pytest
import yaml

from tests.support.busybox import ensure_busybox_image

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
IMAGE = "benchfarm-test/salt-states:latest"


@pytest.fixture(scope="module")
def salt_local(tmp_path_factory):
    assert shutil.which("salt-call"), (
        "salt-call is not on PATH: run the suite through scripts/test.sh (it puts the venv first)"
    )
    client = docker.from_env()
    client.images.get(ensure_busybox_image(client)).tag(IMAGE)
    base = tmp_path_factory.mktemp("salt-local")
    conf, pillar, root = base / "conf", base / "pillar", base / "hostroot"
    conf.mkdir()
    pillar.mkdir()
    (conf / "minion").write_text(yaml.safe_dump({
        "id": "bf-states-test",
        "file_client": "local",
        "root_dir": str(base / "salt"),
        "file_roots": {"base": [str(REPO / "states"), str(REPO / "salt")]},
        "pillar_roots": {"base": [str(pillar)]},
        "grains": {"benchfarm": {"pool": "pool-it"}},
    }))
    (pillar / "top.sls").write_text("base:\n  '*':\n    - bf\n")
    (pillar / "bf.sls").write_text(yaml.safe_dump({"benchfarm": {
        "root": str(root), "manage_packages": False, "manage_services": False, "install_units": True,
        "config": {"pool": "pool-it", "redis_port": 16379}, "images": [IMAGE],
    }}))

    def call(*args: str) -> dict:
        proc = subprocess.run(
            ["salt-call", "--local", "-c", str(conf), "--out", "json", "--retcode-passthrough", *args],
            capture_output=True, text=True, timeout=300, check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)["local"]

    call("saltutil.sync_all")
    yield call, root
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(IMAGE)


def _changed(ret: dict) -> dict:
    assert all(s["result"] is not False for s in ret.values()), ret
    return {s["__id__"]: s["changes"] for s in ret.values() if s["changes"]}


def test_grains_render_without_gpu(salt_local):
    call, _root = salt_local
    grains = call(
        "grains.item", "benchfarm_pool", "benchfarm_gpus", "benchfarm_cpu", "benchfarm_detection", "benchfarm_queues"
    )
    assert grains["benchfarm_pool"] == "pool-it"
    assert grains["benchfarm_detection"] == "ok"
    assert grains["benchfarm_gpus"] == []  # no GPU on this machine: an empty list, not an error
    assert grains["benchfarm_cpu"]["count"] >= 1
    assert "pool.pool-it" in grains["benchfarm_queues"]


def test_apply_twice_changes_nothing_the_second_time(salt_local):
    call, root = salt_local
    docker.from_env().images.get(IMAGE)  # the image state has something to find
    dry = _changed(call("state.apply", "benchfarm", "test=True"))
    assert {"benchfarm-worker-config-file", "benchfarm-worker-lock-dir", "benchfarm-worker-unit-file"} <= set(dry)
    assert not (root / "etc").exists()  # test=True wrote nothing

    first = _changed(call("state.apply", "benchfarm"))
    assert set(dry) == set(first)
    assert yaml.safe_load((root / "etc/benchfarm/config.yaml").read_text()) == {"pool": "pool-it", "redis_port": 16379}
    assert json.loads((root / "etc/docker/daemon.json").read_text())["storage-driver"] == "overlay2"
    unit = (root / "etc/systemd/system/benchfarm-worker.service").read_text()
    assert "--queues pool.pool-it" in unit
    assert (root / "var/lib/benchfarm/locks").is_dir()

    assert _changed(call("state.apply", "benchfarm")) == {}
    assert _changed(call("state.apply", "benchfarm", "test=True")) == {}

    # drift: a hand edit is reported by test=True and reverted by the next apply
    (root / "etc/benchfarm/config.yaml").write_text("pool: hand-edited\n")
    assert set(_changed(call("state.apply", "benchfarm", "test=True"))) == {"benchfarm-worker-config-file"}
    assert set(_changed(call("state.apply", "benchfarm"))) == {"benchfarm-worker-config-file"}


def test_module_health_check_and_quarantine_cycle(salt_local):
    call, _ = salt_local
    call("state.apply", "benchfarm.worker")  # the lock dir exists
    health = call("benchfarm.health_check")
    assert health["checks"]["docker"]["ok"] and health["checks"]["lock_dir"]["ok"], health
    q = call("benchfarm.quarantine", "reason=planted", "notify=False",
             'checks={"disk_state": {"ok": false, "detail": "full"}}')
    assert q == {"quarantined": True, "reason": "planted: disk_state"}
    status = call("benchfarm.worker_status")
    assert status["quarantined"] and status["quarantine"]["reason"] == "planted: disk_state"
    assert call("benchfarm.release", "notify=False")["released"] is True
    assert call("benchfarm.worker_status")["quarantined"] is False


def test_clean_undoes_the_formula(salt_local):
    call, root = salt_local
    call("state.apply", "benchfarm")
    _changed(call("state.apply", "benchfarm.clean"))
    assert not (root / "etc/benchfarm/config.yaml").exists()
    assert not (root / "etc/systemd/system/benchfarm-worker.service").exists()
    assert not (root / "etc/docker/daemon.json").exists()
    with pytest.raises(docker.errors.ImageNotFound):
        docker.from_env().images.get(IMAGE)
    assert _changed(call("state.apply", "benchfarm.clean")) == {}


def test_cloud_config_loads_both_drivers():
    assert shutil.which("salt-cloud"), "salt-cloud is not on PATH: run the suite through scripts/test.sh"
    proc = subprocess.run(
        ["salt-cloud", "-c", str(REPO / "salt" / "cloud"), "--list-profiles", "all", "--out", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    profiles = json.loads(proc.stdout)
    assert {"benchfarm-baremetal-cpu", "benchfarm-proxmox-cpu"} <= set(profiles)
