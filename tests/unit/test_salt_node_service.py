"""``service`` on a benchfarm node (salt/_modules/benchfarm_node_service.py) and the grain that says a
host is a node (salt/_grains/benchfarm_grains.py), loaded as Salt loads them.

The runner is a stand-in with benchfarm-node-service's exit statuses (0 running, 3 stopped);
services.d and the enabled marks live in a scratch tree.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

REPO = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Runner:
    """benchfarm-node-service as cmd.run_all sees it: start/stop/restart/status of a set of running services."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.calls: list[list[str]] = []
        self.fail_start: set[str] = set()

    def __call__(self, argv: list[str], python_shell: bool = True, ignore_retcode: bool = False) -> dict:
        assert python_shell is False
        self.calls.append(argv)
        _, action, name = argv
        if action == "status":
            return {"retcode": 0 if name in self.running else 3, "stdout": "", "stderr": ""}
        if action in ("start", "restart") and name not in self.fail_start:
            self.running.add(name)
        if action == "stop":
            self.running.discard(name)
        return {"retcode": 0, "stdout": f"{name} {action}ed", "stderr": ""}


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def svc(tmp_path: Path, runner: Runner, monkeypatch) -> Any:
    mod = _load(REPO / "salt" / "_modules" / "benchfarm_node_service.py", "bf_node_service_under_test")
    services = tmp_path / "services.d"
    services.mkdir()
    for name in ("dockerd", "salt-minion", "worker"):
        (services / f"{name}.sh").write_text("exec sleep infinity\n")
    monkeypatch.setattr(mod, "SERVICES_DIR", str(services))
    monkeypatch.setattr(mod, "ENABLED_DIR", str(tmp_path / "enabled"))
    monkeypatch.setattr(mod, "START_WAIT_S", 0.3)
    mod.__grains__ = {"benchfarm_service_manager": "node"}
    mod.__salt__ = {"cmd.run_all": runner}
    return mod


def test_it_is_the_service_module_on_nodes_only(svc) -> None:
    assert svc.__virtual__() == "service"
    for manager in ("systemd", "none", None):
        svc.__grains__ = {"benchfarm_service_manager": manager}
        assert svc.__virtual__()[0] is False
    assert svc.__func_alias__ == {"reload_": "reload"}


def test_knows_the_runner_services(svc) -> None:
    assert svc.get_all() == ["dockerd", "salt-minion", "worker"]
    assert svc.available("worker") and svc.missing("collector")


def test_start_waits_until_the_daemon_runs(svc, runner) -> None:
    assert svc.status("worker") is False
    assert svc.start("worker") is True
    assert ["/usr/local/sbin/benchfarm-node-service", "start", "worker"] in runner.calls
    assert svc.status("worker") is True
    runner.fail_start.add("dockerd")  # the runner took it, but the daemon keeps dying
    assert svc.start("dockerd") is False


def test_stop_restart_and_glob_status(svc, runner) -> None:
    svc.start("worker")
    svc.start("salt-minion")
    assert svc.status("*") == {"dockerd": False, "salt-minion": True, "worker": True}
    assert svc.restart("worker") is True and ["/usr/local/sbin/benchfarm-node-service", "restart", "worker"] \
        in runner.calls
    assert svc.full_restart("worker") is True and svc.reload_("worker") is True
    assert svc.stop("worker") is True and svc.status("worker") is False


def test_an_unknown_service_is_an_error_not_a_false(svc) -> None:
    with pytest.raises(CommandExecutionError, match="no service collector on this node"):
        svc.start("collector")
    assert svc.status("collector") is False


def test_enabled_means_started_at_boot(svc) -> None:
    assert svc.enabled("worker") is False and svc.disabled("worker")
    assert svc.enable("worker") is True and svc.enabled("worker")
    assert svc.get_enabled() == ["worker"] and svc.get_disabled() == ["dockerd", "salt-minion"]
    assert svc.disable("worker") is True and svc.disable("worker") is True
    assert not svc.enabled("worker")


def test_the_grain_says_a_node_is_a_node(tmp_path: Path, monkeypatch) -> None:
    grains = _load(REPO / "salt" / "_grains" / "benchfarm_grains.py", "bf_grains_node_under_test")
    grains.__opts__ = {"grains": {}}
    runner = tmp_path / "benchfarm-node-service"
    state = tmp_path / "run-benchfarm-node"
    monkeypatch.setattr(grains, "NODE_SERVICE_RUNNER", str(runner))
    monkeypatch.setattr(grains, "NODE_STATE_DIR", str(state))
    monkeypatch.setattr(grains.os.path, "isdir", lambda p, real=grains.os.path.isdir: (
        False if p == "/run/systemd/system" else real(p)))
    assert grains._service_manager() == "none"
    runner.write_text("#!/bin/sh\n")
    runner.chmod(0o755)
    assert grains._service_manager() == "none"  # the runner alone: an image, not a booted node
    state.mkdir()
    assert grains._service_manager() == "node"


def test_the_pool_grain_comes_from_the_grains_file_salt_cloud_writes(tmp_path: Path) -> None:
    grains = _load(REPO / "salt" / "_grains" / "benchfarm_grains.py", "bf_grains_file_under_test")
    (tmp_path / "minion").write_text("id: node-a\n")
    (tmp_path / "grains").write_text("benchfarm:\n  pool: pool-a\n  hardware: {numa_nodes: 2}\n")
    grains.__opts__ = {"conf_file": str(tmp_path / "minion"), "grains": {}}
    assert grains._static() == {"pool": "pool-a", "hardware": {"numa_nodes": 2}}
    # the minion config's own grains win, as in Salt
    grains.__opts__["grains"] = {"benchfarm": {"pool": "pool-b"}}
    assert grains._static()["pool"] == "pool-b"
    (tmp_path / "grains").write_text(": not yaml [")
    assert grains._static() == {"pool": "pool-b"}
