"""Salt: a master and this host's minion (with the docker_events engine), own ports on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

from benchfarm.adapters.salt_master import SaltMaster
from benchfarm.errors import BenchfarmError, SetupError
from benchfarm.stack.ports import port_open
from benchfarm.stack.salt_cloud import render_cloud
from benchfarm.stack.salt_config import master_config_dir, render_master, render_minion
from benchfarm.stack.services.base import Progress, Service


def salt_script(name: str) -> str:
    """Path of a salt console script installed beside this Python."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SetupError(f"{name} is not installed beside {sys.executable}", hint="pip install salt saltext-dockermod")
    return str(path)


class SaltMasterService(Service):
    name = "salt-master"
    ready_timeout = 60.0

    def address(self) -> str:
        s = self.settings
        return f"tcp://{s.salt_master_host}:{s.salt_publish_port},{s.salt_ret_port}"

    def ports(self) -> list[tuple[str, int]]:
        s = self.settings
        return [(s.salt_master_host, s.salt_publish_port), (s.salt_master_host, s.salt_ret_port)]

    def healthy(self) -> tuple[bool, str]:
        s = self.settings
        if not port_open(s.salt_master_host, s.salt_ret_port):
            return False, f"nothing listens on {s.salt_master_host}:{s.salt_ret_port}"
        sock = s.state_dir / "salt" / "master" / "sock" / "master"
        if not sock.exists() or not any(sock.iterdir()):
            return False, "master IPC sockets not there yet"
        return True, ""

    def ensure_installed(self, progress: Progress) -> None:
        salt_script("salt-master")
        try:
            import saltext.dockermod  # noqa: F401  (only checks the extension is there)
        except ImportError as exc:
            raise SetupError("saltext-dockermod is not installed", hint="pip install saltext-dockermod") from exc

    def configure(self, progress: Progress) -> None:
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        render_master(self.settings)
        render_cloud(self.settings)  # salt-cloud's config beside the master's (benchfarm/stack/salt_cloud.py)
        # we only get here when no master of ours runs: a pid file left by a killed one is stale
        (self.settings.state_dir / "salt" / "master" / "run" / "salt-master.pid").unlink(missing_ok=True)

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        return [salt_script("salt-master"), "-c", str(master_config_dir(self.settings)), "-l", "warning"], {}, None


class SaltMinionService(Service):
    name = "salt-minion"
    ready_timeout = 90.0

    def address(self) -> str:
        return f"minion {self.settings.minion_id} -> {self.settings.salt_master_host}:{self.settings.salt_ret_port}"

    def healthy(self) -> tuple[bool, str]:
        if not port_open(self.settings.salt_master_host, self.settings.salt_ret_port):
            return False, "salt-master is down"
        master = SaltMaster(master_config_dir(self.settings))
        try:
            if self.settings.minion_id not in master.accepted_minions():
                return False, f"minion key {self.settings.minion_id} not accepted yet"
            ok = master.ping(self.settings.minion_id, timeout=5)
        except BenchfarmError as exc:
            return False, exc.message
        return ok, "" if ok else "test.ping got no answer"

    def ensure_installed(self, progress: Progress) -> None:
        salt_script("salt-minion")

    def configure(self, progress: Progress) -> None:
        render_minion(self.settings)
        (self.settings.state_dir / "salt" / "minion" / "run" / "salt-minion.pid").unlink(missing_ok=True)

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        from benchfarm.stack.salt_config import minion_config_dir

        return [salt_script("salt-minion"), "-c", str(minion_config_dir(self.settings)), "-l", "warning"], {}, None
