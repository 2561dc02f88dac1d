"""The farm's salt-cloud deploy script (salt/cloud/deploy/benchfarm-node.sh), run for real in a scratch
tree (BENCHFARM_DEPLOY_ROOT) with a recording stand-in for a node's service runner on PATH.

It gets what salt-cloud puts beside it, installs the minion's config, grains and keys with the right
modes, marks salt-minion to start at boot, (re)starts it under the runner and waits until it runs;
each way it can fail ends with its documented exit status and one clear line.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import salt.utils.cloud

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "salt" / "cloud" / "deploy" / "benchfarm-node.sh"

RUNNER = """#!/bin/bash
# a node's benchfarm-node-service, as far as the deploy script uses it: records calls
echo "$*" >> "$BF_CALLS"
case "$1" in
  restart) echo "$2 started" ;;
  status) [[ -f "$BF_RUNNING" ]] && { echo "$2 running 42"; exit 0; }; echo "$2 stopped"; exit 3 ;;
esac
"""


@pytest.fixture
def host(tmp_path: Path) -> dict:
    """A scratch root with the node's venv, a runner on PATH, and salt-cloud's files beside the script."""
    root = tmp_path / "root"
    venv_bin = root / "opt" / "benchfarm" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "salt-minion").write_text("#!/bin/sh\n")
    (venv_bin / "salt-minion").chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "benchfarm-node-service").write_text(RUNNER)
    (bindir / "benchfarm-node-service").chmod(0o755)
    work = tmp_path / ".saltcloud-x"
    work.mkdir()
    shutil.copy(SCRIPT, work / "deploy.sh")
    (work / "minion").write_text("id: node-a\nmaster: 127.0.0.1\nmaster_port: 14506\n")
    (work / "grains").write_text("benchfarm:\n  pool: pool-a\n")
    (work / "minion.pem").write_text("PRIVATE\n")
    (work / "minion.pub").write_text("PUBLIC\n")
    calls = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "BENCHFARM_DEPLOY_ROOT": str(root),
           "BF_CALLS": str(calls), "BF_RUNNING": str(tmp_path / "running"), "BENCHFARM_DEPLOY_START_WAIT_S": "1"}
    return {"root": root, "work": work, "env": env, "calls": calls, "running": tmp_path / "running"}


def _deploy(host: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(host["work"] / "deploy.sh"), *args], env=host["env"], capture_output=True,
                          text=True, timeout=60, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installs_the_prepared_minion_and_starts_it_under_the_node_runner(host: dict) -> None:
    host["running"].touch()
    res = _deploy(host)
    assert res.returncode == 0, res.stderr
    assert "salt-minion node-a runs" in res.stdout
    etc = host["root"] / "etc" / "salt"
    assert (etc / "minion").read_text().startswith("id: node-a")
    assert (etc / "grains").read_text() == "benchfarm:\n  pool: pool-a\n"
    assert (etc / "pki" / "minion" / "minion.pem").read_text() == "PRIVATE\n"
    assert _mode(etc / "pki" / "minion" / "minion.pem") == 0o400
    assert _mode(etc / "pki" / "minion" / "minion.pub") == 0o644
    assert _mode(etc / "pki" / "minion") == 0o700
    assert (host["root"] / "etc" / "benchfarm-node" / "enabled" / "salt-minion").is_file()
    assert host["calls"].read_text().splitlines()[0] == "restart salt-minion"


def test_a_new_enrolment_forgets_the_master_key_it_cached(host: dict) -> None:
    pki = host["root"] / "etc" / "salt" / "pki" / "minion"
    pki.mkdir(parents=True)
    (pki / "minion_master.pub").write_text("an old master\n")
    host["running"].touch()
    assert _deploy(host).returncode == 0
    assert not (pki / "minion_master.pub").exists()


def test_a_minion_that_does_not_start_fails_the_deploy(host: dict) -> None:
    res = _deploy(host)
    assert res.returncode == 4
    assert "salt-minion did not start within 1 s" in res.stderr


def test_without_salt_and_without_a_wheelhouse_it_says_what_to_give(host: dict) -> None:
    shutil.rmtree(host["root"] / "opt")
    res = _deploy(host)
    assert res.returncode == 3
    assert "no salt-minion in /opt/benchfarm/venv and no wheelhouse given (script_args: -w DIR)" in res.stderr
    res = _deploy(host, "-w", str(host["work"] / "nowhere"))
    assert res.returncode == 3 and "is not a directory" in res.stderr


def test_without_what_salt_cloud_prepares_it_refuses(host: dict) -> None:
    (host["work"] / "minion.pem").unlink()
    res = _deploy(host)
    assert res.returncode == 2
    assert "minion.pem is missing: run this through salt-cloud" in res.stderr
    assert not (host["root"] / "etc" / "salt").exists()


def test_salt_cloud_renders_it_unchanged() -> None:
    # salt-cloud renders deploy scripts as Jinja templates; this one must come out as written
    # (Jinja drops one trailing newline), and must not look like bootstrap-salt to salt-cloud,
    # which would append bootstrap's own flags to the command line
    opts = {"deploy_scripts_search_path": (str(SCRIPT.parent),)}
    rendered = salt.utils.cloud.os_script("benchfarm-node", {}, opts, {"id": "node-a"})
    assert rendered + "\n" == SCRIPT.read_text()
    assert "bootstrap-salt" not in rendered
    assert os.access(SCRIPT, os.X_OK)
