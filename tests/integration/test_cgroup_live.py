"""The cgroup collector on a real running container: the files it reads are the engine's own."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from benchfarm.collectors.cgroup import CgroupCollector, locate_cgroup
from benchfarm.errors import NotFoundError

pytestmark = pytest.mark.integration

IMAGE = "benchfarm-test/busybox:latest"


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def docker_cli() -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    info = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    if info.returncode != 0:
        pytest.skip(f"docker info failed (start the farm with `benchfarm stack up`): {info.stderr.strip()[:200]}")
    if _docker("image", "inspect", IMAGE).returncode != 0:
        import docker

        from tests.support.busybox import ensure_busybox_image

        ensure_busybox_image(docker.from_env())


@pytest.fixture
def busy_container(docker_cli: None):
    """A container spinning a shell loop on one CPU, removed afterwards."""
    run = _docker("run", "-d", "--rm", "--cpus", "1", "--network", "none", IMAGE,
                  "sh", "-c", "while :; do :; done")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    yield cid
    _docker("rm", "-f", cid)


def test_cgroup_collector_sees_a_busy_container(busy_container: str) -> None:
    loc = locate_cgroup(busy_container)
    col = CgroupCollector(busy_container, location=loc)
    av = col.available()
    assert av, av.reason
    first = col.sample()
    deadline = time.monotonic() + 20
    while True:
        time.sleep(0.3)
        s = col.sample()
        if s["cpu_usage_seconds"] - first["cpu_usage_seconds"] >= 0.3 or time.monotonic() > deadline:
            break
    assert s["cpu_usage_seconds"] - first["cpu_usage_seconds"] >= 0.3  # the loop burns CPU we can see
    assert s["cpu_util_pct"] > 20  # percent of one CPU over the last 0.3 s
    assert s["memory_usage_bytes"] > 0
    assert s["pids_current"] >= 1
    assert set(s) <= {f.name for f in col.fields()}
    col.close()


def test_the_engine_pid_finds_the_same_cgroup_as_the_search(busy_container: str) -> None:
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.settings import Settings

    engine = ContainerEngine.from_settings(Settings())
    pid = engine.pid(busy_container)
    assert pid is not None and pid > 1
    assert locate_cgroup(busy_container, pid=pid) == locate_cgroup(busy_container)
    assert _docker("rm", "-f", busy_container).returncode == 0
    with pytest.raises(NotFoundError):
        engine.pid(busy_container)
    engine.close()


def test_cgroup_disappears_with_the_container(busy_container: str) -> None:
    col = CgroupCollector(busy_container)
    assert col.available()
    assert _docker("rm", "-f", busy_container).returncode == 0
    deadline = time.monotonic() + 20
    gone = False
    while time.monotonic() < deadline and not gone:
        try:
            col.sample()
            time.sleep(0.1)
        except OSError:
            gone = True
    assert gone, "reading a removed container's cgroup should fail so the sampler drops the collector"
