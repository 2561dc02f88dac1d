"""Docker engine: Debian's docker.io, dockerd started in the background."""

from __future__ import annotations

import shutil

import psutil

from benchfarm.adapters.docker_engine import DockerEngine
from benchfarm.errors import BenchfarmError, SetupError
from benchfarm.stack.prereqs import ensure_debian_packages
from benchfarm.stack.services.base import Progress, Service


class DockerService(Service):
    name = "docker"
    ready_timeout = 60.0

    def address(self) -> str:
        return self.settings.docker_url

    def healthy(self) -> tuple[bool, str]:
        engine = DockerEngine(self.settings.docker_url, timeout=5)
        try:
            return engine.ping(), ""
        except BenchfarmError as exc:
            return False, exc.message
        finally:
            engine.close()

    def external_pid(self) -> int | None:
        for proc in psutil.process_iter(["pid", "name"]):
            if proc.info["name"] == "dockerd":
                return proc.info["pid"]
        return None

    def ensure_installed(self, progress: Progress) -> None:
        ensure_debian_packages(["docker.io"], progress=progress)

    def configure(self, progress: Progress) -> None:
        if not self.settings.docker_url.startswith("unix://"):
            raise SetupError(
                f"the stack can only start a local dockerd on a unix socket, not {self.settings.docker_url}",
                hint="start that engine yourself, or unset BENCHFARM_DOCKER_URL",
            )
        pid = self.external_pid()
        if pid is not None:
            raise SetupError(
                f"a dockerd (pid {pid}) is running but does not answer on {self.settings.docker_url}",
                hint="stop it or set BENCHFARM_DOCKER_URL to the socket it listens on",
            )
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        # a pid file left by a dockerd killed with the machine would block the start
        (self.settings.run_dir / "dockerd.engine.pid").unlink(missing_ok=True)

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        socket = self.settings.docker_url.removeprefix("unix://")
        argv = [
            dockerd,
            "--host", f"unix://{socket}",
            "--pidfile", str(self.settings.run_dir / "dockerd.engine.pid"),
            "--storage-driver", "overlay2",
            "--log-driver", "json-file",
            "--log-opt", "max-size=10m",
        ]
        return argv, {}, None
