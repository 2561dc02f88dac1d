"""Extra real Salt minions for integration tests: started against the farm's master as
`salt-minion -c DIR` processes, with their own id, pool and static hardware grains, and
removed afterwards (process stopped, key deleted on the master, host dropped from the
scheduler's registry, scratch trees removed) so `benchfarm hosts list` keeps no ghosts."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.adapters.salt_master import SaltMaster
from benchfarm.inventory.inventory import REASONS_KEY
from benchfarm.scheduler.host_registry import HostRegistry
from benchfarm.settings import Settings
from benchfarm.stack.salt_config import master_config_dir, render_minion, salt_root

BIN = Path(sys.executable).parent
HOST_ROOT = Path("/var/lib/benchfarm/host-root")  # salt/pillar/benchfarm.sls: root of each minion's managed files


@dataclass
class TestMinion:
    minion_id: str
    pool: str
    conf_dir: Path
    proc: subprocess.Popen

    @property
    def root(self) -> Path:
        """Where the farm's states put this minion's managed files."""
        return HOST_ROOT / self.minion_id


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def poll(fn, timeout_s: float, what: str, every_s: float = 0.5):
    """Call ``fn`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(every_s)


def start_minion(settings: Settings, minion_id: str, pool: str, hardware: dict[str, Any] | None = None) -> TestMinion:
    """Render a minion config (docker_events off) and start `salt-minion -c DIR` for it."""
    extra = {"hardware": hardware} if hardware else {}
    conf_dir = render_minion(settings, minion_id=minion_id, pool=pool, extra_grains=extra, docker_events=False)
    (salt_root(settings) / f"minion-{minion_id}" / "log").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(BIN / "salt-minion"), "-c", str(conf_dir), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return TestMinion(minion_id, pool, conf_dir, proc)


def wait_answering(master: SaltMaster, minions: list[TestMinion], timeout_s: float = 120) -> None:
    """Wait until the master accepted each minion's key (auto_accept) and it answers test.ping."""
    for m in minions:
        def up(m=m):
            assert m.proc.poll() is None, f"salt-minion {m.minion_id} exited with {m.proc.returncode}"
            return m.minion_id in master.accepted_minions() and master.ping(m.minion_id, timeout=5)
        poll(up, timeout_s, f"minion {m.minion_id} to be accepted and answer test.ping", every_s=1)


def wait_provisioned(settings: Settings, master: SaltMaster, minions: list[TestMinion], timeout_s: float = 180) -> None:
    """Wait until the minion-start reactor's orchestration (sync, highstate, register, health check)
    is over for each minion: the host is registered with a health verdict and no job runs on it."""
    registry = HostRegistry(RedisKV.from_settings(settings))

    def done(mid: str) -> bool:
        try:
            status = registry.get(mid).status
        except Exception:  # not registered yet
            return False
        running = master.cmd(mid, "saltutil.running", timeout=10).get(mid)
        return status in ("good", "quarantined") and running == []

    for m in minions:
        poll(functools.partial(done, m.minion_id), timeout_s, f"the minion-start provisioning of {m.minion_id}",
             every_s=1)


def apply_states(master: SaltMaster, minion_id: str, *, test: bool = False, timeout: int = 300) -> dict[str, Any]:
    """`state.apply` (the highstate) on one minion through the master; returns its state dict."""
    kwarg = {"queue": True, **({"test": True} if test else {})}
    ret = master.cmd(minion_id, "state.apply", timeout=timeout, kwarg=kwarg).get(minion_id)
    assert isinstance(ret, dict), f"state.apply on {minion_id} did not return states: {ret!r}"
    return ret


def changed(ret: dict[str, Any]) -> dict[str, Any]:
    """State id -> changes of the states that changed something; asserts none failed."""
    failed = {k: s.get("comment") for k, s in ret.items() if not isinstance(s, dict) or s.get("result") is False}
    assert not failed, f"failed states: {failed}"
    return {s["__id__"]: s["changes"] for s in ret.values() if s["changes"]}


def remove_minions(settings: Settings, minions: list[TestMinion]) -> None:
    """Stop the minions and forget them everywhere (master key, registry, scratch trees)."""
    kv = RedisKV.from_settings(settings)
    registry = HostRegistry(kv)
    for m in minions:
        if m.proc.poll() is None:
            m.proc.terminate()
            try:
                m.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait(timeout=10)
        subprocess.run([str(BIN / "salt-key"), "-c", str(master_config_dir(settings)), "-d", m.minion_id, "-y"],
                       capture_output=True, text=True, timeout=60, check=False)
        registry.remove(m.minion_id)
        kv.hdel(REASONS_KEY, m.minion_id)
        for path in (m.root, m.conf_dir, salt_root(settings) / f"minion-{m.minion_id}"):
            shutil.rmtree(path, ignore_errors=True)
