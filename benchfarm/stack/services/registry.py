"""The farm's image registry: Debian's docker-registry (distribution v2) on loopback."""

from __future__ import annotations

import shutil

from benchfarm.stack.prereqs import ensure_debian_packages
from benchfarm.stack.services.base import Progress, Service, http_health


class RegistryService(Service):
    name = "registry"
    ready_timeout = 30.0

    def address(self) -> str:
        return f"http://{self.settings.registry_address}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.registry_host, self.settings.registry_port)]

    def healthy(self) -> tuple[bool, str]:
        return http_health(f"{self.address()}/v2/")

    def ensure_installed(self, progress: Progress) -> None:
        ensure_debian_packages(["docker-registry"], progress=progress)

    @property
    def config_file(self):
        return self.settings.state_dir / "registry" / "config.yml"

    def configure(self, progress: Progress) -> None:
        data = self.settings.state_dir / "registry" / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {data}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.settings.registry_address}\n"
        )

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        exe = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        return [exe, "serve", str(self.config_file)], {}, None
