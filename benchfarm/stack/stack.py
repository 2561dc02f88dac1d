"""The one-host farm as a whole: its services in start order."""

from __future__ import annotations

from benchfarm.errors import NotFoundError
from benchfarm.settings import Settings
from benchfarm.stack.services.base import Progress, Service, ServiceStatus
from benchfarm.stack.services.docker_engine import DockerService
from benchfarm.stack.services.elasticsearch import ElasticsearchService
from benchfarm.stack.services.redis_server import RedisService
from benchfarm.stack.services.salt import SaltMasterService, SaltMinionService


def service_classes() -> list[type[Service]]:
    """The services of the one-host farm, in start order."""
    classes: list[type[Service]] = [
        DockerService,
        RedisService,
        ElasticsearchService,
        SaltMasterService,
        SaltMinionService,
    ]
    try:
        from benchfarm.stack.services.registry import RegistryService

        classes.append(RegistryService)
    except ImportError:
        pass
    try:
        from benchfarm.stack.services.farm import ApiService, WorkerService

        classes += [ApiService, WorkerService]
    except ImportError:
        pass
    from benchfarm.stack.services.node_gateway import NodeGatewayService

    classes.append(NodeGatewayService)  # `down` stops the nodes' relays before the services behind them
    from benchfarm.stack.services.supervisor import SupervisorService

    classes.append(SupervisorService)  # last: started when all is up, stopped first so it restarts nothing on `down`
    return classes


class Stack:
    """Brings the one-host farm up and down, and reports on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = [cls(settings) for cls in service_classes()]

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise NotFoundError(
            f"no stack service named {name!r}", hint=f"choose one of: {', '.join(s.name for s in self.services)}"
        )

    def up(self, progress: Progress, only: list[str] | None = None) -> dict[str, str]:
        """Start every service that is not running; returns {service: what happened}."""
        from benchfarm.stack.prereqs import is_root, require_root

        if not is_root() and not all(svc.status().healthy for svc in self.services
                                     if not only or svc.name in only):
            require_root("benchfarm stack up")
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        done: dict[str, str] = {}
        for svc in self.services:
            if only and svc.name not in only:
                continue
            done[svc.name] = svc.up(progress)
            progress(f"{svc.name}: {done[svc.name]}")
        return done

    def down(self, progress: Progress, only: list[str] | None = None) -> dict[str, str]:
        """Stop, in reverse order, the services the stack started; others are left alone."""
        done: dict[str, str] = {}
        for svc in reversed(self.services):
            if only and svc.name not in only:
                continue
            stopped = svc.down()
            done[svc.name] = "stopped" if stopped else "was not started by benchfarm"
            progress(f"{svc.name}: {done[svc.name]}")
        return done

    def status(self) -> list[ServiceStatus]:
        return [svc.status() for svc in self.services]
