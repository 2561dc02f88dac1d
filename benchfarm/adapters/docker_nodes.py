"""Docker adapter for the node provider: the farm's node network, node containers, their volumes, exec.

With ``docker_engine`` and ``docker_images`` the only modules that import ``docker``.
A node container is started with exactly the options checked on a machine that
refuses ``--privileged`` (ARCHITECTURE.md, "Many hosts on one machine"): every
capability but SYS_RESOURCE, seccomp/AppArmor/system paths unconfined, all devices
allowed by the device cgroup, the host's cgroupfs mounted read-write in the host's
cgroup namespace (so the node's engine can nest its containers' cgroups under the
node's), a CPU set and a memory limit without swap, and a named volume for the
node engine's /var/lib/docker (overlay2 cannot stack on the container's overlay).

Library errors are converted in one table (``_convert``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import docker
import docker.errors
import docker.types
import requests.exceptions
from docker.utils.socket import frames_iter

from benchfarm.adapters.docker_engine import DockerEngine
from benchfarm.errors import BenchfarmError, NotFoundError, ServiceUnavailableError
from benchfarm.nodes.engine import ContainerFacts, ExecResult, NetworkFacts, NodeRunRequest
from benchfarm.nodes.errors import EngineConflictError
from benchfarm.settings import Settings

_HINT_ENGINE = "start the farm with `benchfarm stack up` or set BENCHFARM_DOCKER_URL"

# `docker run` options of a node that do not depend on the node (see the module docstring)
NODE_CAP_ADD = ("ALL",)
NODE_CAP_DROP = ("SYS_RESOURCE",)  # the sandbox lacks it: asking for it fails with "unable to apply caps"
# `--security-opt systempaths=unconfined` is the docker CLI's spelling: the API takes empty MaskedPaths and
# ReadonlyPaths instead (run_node sets them), so /proc and /sys are not masked for the node's own engine
NODE_SECURITY_OPT = ("seccomp=unconfined", "apparmor=unconfined")
NODE_DEVICE_CGROUP_RULES = ("a *:* rwm",)
NODE_TMPFS = {"/run": "rw,nosuid,nodev,mode=755", "/tmp": "rw,nosuid,nodev,mode=1777"}


@contextmanager
def _convert(what: str) -> Iterator[None]:
    """The one table from docker-py errors to benchfarm errors."""
    try:
        yield
    except BenchfarmError:
        raise
    except docker.errors.NotFound as exc:
        raise NotFoundError(f"{what}: not found ({exc.explanation})") from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise EngineConflictError(f"{what}: {exc.explanation}") from exc
        raise BenchfarmError(f"{what}: the Docker engine refused: {exc.explanation or exc}",
                             hint="see the engine's log with `benchfarm stack logs docker`") from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException, OSError) as exc:
        raise ServiceUnavailableError(f"{what}: cannot reach the Docker engine ({exc})", hint=_HINT_ENGINE) from exc


def _network_facts(attrs: dict[str, Any]) -> NetworkFacts:
    ipam = ((attrs.get("IPAM") or {}).get("Config") or [{}])[0]
    return NetworkFacts(id=attrs["Id"], name=attrs["Name"], subnet=ipam.get("Subnet", ""),
                        gateway=ipam.get("Gateway", ""), internal=bool(attrs.get("Internal")),
                        options=dict(attrs.get("Options") or {}), labels=dict(attrs.get("Labels") or {}))


def _container_facts(attrs: dict[str, Any]) -> ContainerFacts:
    state = attrs.get("State") or {}
    host = attrs.get("HostConfig") or {}
    config = attrs.get("Config") or {}
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    status = state.get("Status", "")
    return ContainerFacts(id=attrs["Id"], name=attrs.get("Name", "").lstrip("/"), status=status,
                          labels=dict(config.get("Labels") or {}), image=config.get("Image", ""),
                          pid=int(state.get("Pid") or 0),
                          addresses={n: v.get("IPAddress", "") for n, v in nets.items()},
                          cpuset=host.get("CpusetCpus", ""), memory=int(host.get("Memory") or 0),
                          exit_code=state.get("ExitCode") if status in ("exited", "dead") else None,
                          oom_killed=bool(state.get("OOMKilled")), image_id=attrs.get("Image", ""))


class NodeEngine(DockerEngine):
    """The Docker calls the node provider makes, over one docker-py client."""

    def __init__(self, url: str, timeout: int = 120) -> None:
        super().__init__(url, timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.docker_url)

    # networks ------------------------------------------------------------
    def network(self, name: str) -> NetworkFacts | None:
        """The network called ``name``; None when there is none."""
        try:
            with _convert(f"inspecting network {name}"):
                return _network_facts(self.client.api.inspect_network(name))
        except NotFoundError:
            return None

    def create_network(self, name: str, *, bridge: str, subnet: str | None, internal: bool, icc: bool,
                       labels: dict[str, str]) -> NetworkFacts:
        """Create a bridge network (host interface ``bridge``); returns it.

        Raises:
            EngineConflictError: a network of that name appeared meanwhile.
        """
        ipam = None
        if subnet:
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        options = {"com.docker.network.bridge.name": bridge,
                   "com.docker.network.bridge.enable_icc": "true" if icc else "false",
                   "com.docker.network.bridge.enable_ip_masquerade": "false"}
        with _convert(f"creating network {name}"):
            self.client.api.create_network(name, driver="bridge", internal=internal, options=options, ipam=ipam,
                                           labels=labels, check_duplicate=True)
        facts = self.network(name)
        if facts is None:
            raise NotFoundError(f"network {name} vanished right after it was created", hint="retry")
        return facts

    def remove_network(self, name: str) -> bool:
        """Remove a network; False when it was not there."""
        try:
            with _convert(f"removing network {name}"):
                self.client.api.remove_network(name)
        except NotFoundError:
            return False
        return True

    # volumes -------------------------------------------------------------
    def volume_labels(self, name: str) -> dict[str, str] | None:
        """The labels of volume ``name``; None when there is no such volume."""
        try:
            with _convert(f"inspecting volume {name}"):
                return dict(self.client.api.inspect_volume(name).get("Labels") or {})
        except NotFoundError:
            return None

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with _convert(f"creating volume {name}"):
            self.client.api.create_volume(name, driver="local", labels=labels)

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; False when it was not there."""
        try:
            with _convert(f"removing volume {name}"):
                self.client.api.remove_volume(name, force=True)
        except NotFoundError:
            return False
        return True

    def volumes(self, label: str) -> list[str]:
        """Names of the volumes carrying ``label`` (``key`` or ``key=value``)."""
        with _convert("listing volumes"):
            found = self.client.api.volumes(filters={"label": label}).get("Volumes") or []
        return sorted(v["Name"] for v in found)

    # containers ----------------------------------------------------------
    def run_node(self, req: NodeRunRequest) -> str:
        """Create and start a node container; returns its id. A container that fails to start is removed.

        Raises:
            EngineConflictError: the container name is taken.
        """
        host_config = self.client.api.create_host_config(
            cap_add=list(NODE_CAP_ADD), cap_drop=list(NODE_CAP_DROP), security_opt=list(NODE_SECURITY_OPT),
            device_cgroup_rules=list(NODE_DEVICE_CGROUP_RULES), cgroupns="host",
            binds={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                   req.volume: {"bind": "/var/lib/docker", "mode": "rw"}},
            tmpfs=dict(NODE_TMPFS), cpuset_cpus=req.cpuset, mem_limit=req.memory, memswap_limit=req.memory,
            network_mode=req.network, restart_policy={"Name": "no"},
        )
        host_config["MaskedPaths"] = []    # systempaths=unconfined
        host_config["ReadonlyPaths"] = []
        with _convert(f"creating node container {req.name}"):
            created = self.client.api.create_container(
                req.image, name=req.name, hostname=req.hostname, labels=req.labels, environment=req.environment,
                host_config=host_config, stop_timeout=req.stop_timeout, detach=True, use_config_proxy=False,
            )
        cid = created["Id"]
        try:
            with _convert(f"starting node container {req.name}"):
                self.client.api.start(cid)
        except BenchfarmError:
            self.remove_container(cid)
            raise
        return cid

    def container(self, name_or_id: str) -> ContainerFacts | None:
        """The container ``name_or_id``; None when there is none."""
        try:
            with _convert(f"inspecting container {name_or_id}"):
                return _container_facts(self.client.api.inspect_container(name_or_id))
        except NotFoundError:
            return None

    def containers(self, label: str) -> list[ContainerFacts]:
        """Every container (any state) carrying ``label`` (``key`` or ``key=value``)."""
        with _convert("listing containers"):
            found = self.client.api.containers(all=True, filters={"label": label})
        facts = [self.container(c["Id"]) for c in found]
        return [f for f in facts if f is not None]

    def remove_container(self, name_or_id: str) -> bool:
        """Force-remove a container (killing it); False when it was not there."""
        try:
            with _convert(f"removing container {name_or_id}"):
                self.client.api.remove_container(name_or_id, force=True, v=False)
        except NotFoundError:
            return False
        return True

    def start_container(self, name_or_id: str) -> None:
        """Start a stopped container again, with its filesystem as it was."""
        with _convert(f"starting container {name_or_id}"):
            self.client.api.start(name_or_id)

    def logs(self, name_or_id: str, tail: int = 40) -> str:
        """The last ``tail`` lines of a container's output ("" when it is gone)."""
        try:
            with _convert(f"reading the log of {name_or_id}"):
                raw = self.client.api.logs(name_or_id, stdout=True, stderr=True, tail=tail)
        except NotFoundError:
            return ""
        return raw.decode(errors="replace")

    def exec(self, name_or_id: str, argv: list[str], *, stdin: Iterable[bytes] | None = None,
             timeout: float = 120.0, environment: dict[str, str] | None = None) -> ExecResult:
        """Run ``argv`` in a running container (as ``docker exec [-i]``); returns its exit status and output.

        ``stdin``, when given, is streamed to the command and then closed (``docker save | docker exec -i``).

        Raises:
            NotFoundError: no such container.
            BenchfarmError: the container is not running, or the command ran past ``timeout`` seconds.
        """
        what = f"running {' '.join(argv)[:80]} in {name_or_id}"
        with _convert(what):
            exec_id = self.client.api.exec_create(name_or_id, argv, stdout=True, stderr=True,
                                                  stdin=stdin is not None, environment=environment)["Id"]
            sock = self.client.api.exec_start(exec_id, socket=True)
            raw: socket.socket = getattr(sock, "_sock", sock)
            raw.settimeout(timeout)
            chunks: list[bytes] = []
            try:
                if stdin is not None:
                    for block in stdin:
                        raw.sendall(block)
                    raw.shutdown(socket.SHUT_WR)
                for _stream, data in frames_iter(sock, tty=False):
                    chunks.append(data)
            except TimeoutError as exc:
                raise BenchfarmError(f"{what}: no end after {timeout:.0f} s",
                                     hint="the command may hang; look inside with `docker exec`") from exc
            finally:
                sock.close()
            code = self._exit_code(exec_id)
        return ExecResult(exit_code=-1 if code is None else int(code),
                          output=b"".join(chunks).decode(errors="replace"))

    def _exit_code(self, exec_id: str) -> int | None:
        # the output can end a moment before the engine records the exit status
        for _ in range(50):
            info = self.client.api.exec_inspect(exec_id)
            if not info.get("Running"):
                return info.get("ExitCode")
            time.sleep(0.1)
        return None

    # images ----------------------------------------------------------------
    def save_image(self, ref: str) -> Iterator[bytes]:
        """The ``docker save`` tar stream of ``ref``, in chunks.

        Raises:
            NotFoundError: no such image.
        """
        with _convert(f"saving image {ref}"):
            yield from self.client.api.get_image(ref, chunk_size=1 << 20)

    def image_id(self, ref: str) -> str | None:
        """The id of image ``ref``; None when it is not in the engine."""
        try:
            with _convert(f"inspecting image {ref}"):
                return str(self.client.api.inspect_image(ref)["Id"])
        except NotFoundError:
            return None

    def image_labels(self, ref: str) -> dict[str, str] | None:
        """The labels of image ``ref``; None when it is not in the engine."""
        try:
            with _convert(f"inspecting image {ref}"):
                attrs = self.client.api.inspect_image(ref)
        except NotFoundError:
            return None
        return dict((attrs.get("Config") or {}).get("Labels") or {})
