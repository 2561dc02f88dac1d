"""
Benchfarm execution module: host health, worker status, quarantine, and benchmark
containers with GPU ``device_requests`` (what ``saltext-dockermod`` lacks).

Thin Salt glue over the plain-Python ``benchfarm`` package: argument parsing in
``benchfarm.inventory.container_args``, payloads in ``benchfarm.inventory.reactor_payloads``,
and every Docker call through the farm's adapters (``ContainerEngine``, ``DockerImages``),
whose errors arrive as ``benchfarm.errors`` and leave as ``CommandExecutionError``.
The file is not named ``benchfarm.py``: Salt's loader puts this directory on
``sys.path`` while loading, which would shadow the ``benchfarm`` package.

:depends: benchfarm (installed by the ``benchfarm.worker`` state, with docker-py and httpx)

Settings read from pillar ``benchfarm`` (see ``salt/pillar.example``): ``root``,
``state_dir``, ``api_url``, ``internal_token`` (the farm's internal credential for ``/internal/*``;
``api_token`` is still read where a pillar predates it), ``health``.
"""

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__salt__: dict[str, Callable[..., Any]]
__grains__: dict[str, Any]
__pillar__: dict[str, Any]

__virtualname__ = "benchfarm"

try:
    from benchfarm.errors import BenchfarmError, NotFoundError
    from benchfarm.inventory import container_args, reactor_payloads

    HAS_BENCHFARM = True
except ImportError:
    HAS_BENCHFARM = False

if TYPE_CHECKING:
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.adapters.docker_images import DockerImages

WORKER_SERVICE = "benchfarm-worker"
# the worker's service name where Salt manages services (states/benchfarm/hostmap.yaml says the same):
# a systemd unit, or the runner's service on a benchfarm node (salt/_modules/benchfarm_node_service.py)
WORKER_SERVICES = {"systemd": WORKER_SERVICE, "node": "worker"}
DEFAULT_HEALTH = {
    "min_free_bytes": 2 * 1024**3,  # on the docker data root and the state dir
    "max_load_per_cpu": 4.0,  # 1-minute load average / CPUs
    "validate_images": False,  # run each farm image's validate command
    "validate_timeout": 300,
}


def __virtual__() -> str | tuple[bool, str]:
    if not HAS_BENCHFARM:
        return (False, "benchfarm module: the benchfarm package is not installed (apply state benchfarm.worker)")
    return __virtualname__


# helpers -------------------------------------------------------------------
def _cfg(key: str, default: Any = None) -> Any:
    # read __pillar__ directly: pillar.get masks values ("**********") outside templates since 3008
    import salt.utils.data

    return salt.utils.data.traverse_dict_and_list(__pillar__, f"benchfarm:{key}", default)


def _path(path: str) -> str:
    """A managed path under the pillar ``benchfarm:root`` prefix (tests use a temp root)."""
    root = _cfg("root", "") or ""
    return os.path.join(root, path.lstrip("/")) if root else path


def _state_dir() -> str:
    return _path(_cfg("state_dir", "/var/lib/benchfarm"))


def _docker_url(docker_url: str | None) -> str:
    return str(docker_url or _cfg("docker_url", "unix:///var/run/docker.sock"))


def _engine(docker_url: str | None = None) -> "ContainerEngine":
    """The farm's container adapter on this host's engine (imported here: docker-py loads only when used)."""
    from benchfarm.adapters.docker_engine import ContainerEngine

    return ContainerEngine(_docker_url(docker_url))


def _images(docker_url: str | None = None) -> "DockerImages":
    """The farm's image adapter on this host's engine."""
    from benchfarm.adapters.docker_images import DockerImages

    return DockerImages(_docker_url(docker_url))


def _failed(doing: str, exc: "BenchfarmError") -> CommandExecutionError:
    """Salt's error for an execution function, from the farm's (message, then hint)."""
    return CommandExecutionError(f"{doing}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))


def _api_post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from benchfarm.settings import get_settings

    settings = get_settings()
    url = (_cfg("api_url") or settings.effective_api_url).rstrip("/") + path
    # the internal routes' own credential; an admin token is still taken from pillars older than it
    token = (_cfg("internal_token") or settings.resolved_internal_token()
             or _cfg("api_token") or settings.resolved_api_token())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(url, json=payload, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        return {"posted": False, "url": url, "error": str(exc)}
    return {"posted": resp.is_success, "url": url, "status_code": resp.status_code}


def _fire(tag: str, data: dict[str, Any]) -> None:
    try:
        __salt__["event.send"](tag, data)
    except Exception as exc:  # a lost event must not fail the check that fired it
        log.warning("could not fire %s: %s", tag, exc)


# health ----------------------------------------------------------------------
def _check_docker(engine: "ContainerEngine") -> dict[str, Any]:
    try:
        engine.ping()
        return {"ok": True, "detail": "docker answers", "data_root": engine.data_root()}
    except BenchfarmError as exc:
        return {"ok": False, "detail": f"docker does not answer: {exc.message}"}


def _check_free(path: str, min_free: int) -> dict[str, Any]:
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        free = shutil.disk_usage(probe or "/").free
    except OSError as exc:
        return {"ok": False, "detail": f"{path}: {exc}"}
    return {"ok": free >= min_free, "detail": f"{path}: {free} bytes free (minimum {min_free})", "free_bytes": free}


def _check_load(max_per_cpu: float) -> dict[str, Any]:
    load1 = os.getloadavg()[0]
    per_cpu = load1 / (os.cpu_count() or 1)
    return {"ok": per_cpu <= max_per_cpu, "detail": f"load {load1:.2f} = {per_cpu:.2f}/cpu (maximum {max_per_cpu})"}


def _validate_images(images: "DockerImages", timeout: int) -> dict[str, dict[str, Any]]:
    """Run each pillar image's ``benchfarm.validate`` label command in a throw-away container (no network)."""
    results = {}
    for entry in _cfg("images", []) or []:
        ref = entry["image"] if isinstance(entry, dict) else str(entry)
        try:
            command = images.get(ref).labels.get("benchfarm.validate")
            if not command:
                results[ref] = {"ok": True, "detail": "no validate command"}
                continue
            code = images.run(ref, ["/bin/sh", "-c", command], timeout=timeout).exit_code
            results[ref] = {"ok": code == 0, "detail": f"validate exited {code}"}
        except BenchfarmError as exc:
            results[ref] = {"ok": False, "detail": f"validate could not run: {exc.message}"}
    return results


def health_check(
    validate_images: bool | None = None, fire_event: bool = False, docker_url: str | None = None
) -> dict[str, Any]:
    """
    Check that this host can run benchmarks.

    Checks: docker answers; free space on the docker data root and the benchfarm
    state dir; 1-minute load per CPU; the host lock dir exists; optionally each
    farm image's ``validate`` command (pillar ``benchfarm:images``). Thresholds come
    from pillar ``benchfarm:health``.

    validate_images
        Run the farm images' validate commands (default: pillar, else False).
    fire_event
        Fire ``benchfarm/health/passed`` or ``benchfarm/health/failed`` to the master,
        which the reactors turn into release or quarantine.

    Returns ``{"ok": bool, "failed": [check names], "checks": {name: {"ok", "detail"}}}``.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.health_check
        salt '*' benchfarm.health_check validate_images=True fire_event=True
    """
    cfg = {**DEFAULT_HEALTH, **(_cfg("health", {}) or {})}
    if validate_images is None:
        validate_images = bool(cfg["validate_images"])

    engine = _engine(docker_url)
    try:
        checks = {"docker": _check_docker(engine)}
    finally:
        engine.close()
    data_root = checks["docker"].get("data_root", _cfg("docker:data_root", "/var/lib/docker"))
    checks["disk_docker"] = _check_free(data_root, int(cfg["min_free_bytes"]))
    checks["disk_state"] = _check_free(_state_dir(), int(cfg["min_free_bytes"]))
    checks["load"] = _check_load(float(cfg["max_load_per_cpu"]))
    lock_dir = os.path.join(_state_dir(), "locks")
    checks["lock_dir"] = {"ok": os.path.isdir(lock_dir), "detail": lock_dir}
    if validate_images and checks["docker"]["ok"]:
        images = _images(docker_url)
        try:
            for ref, result in _validate_images(images, int(cfg["validate_timeout"])).items():
                checks[f"validate:{ref}"] = result
        finally:
            images.close()
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    ret = {"ok": not failed, "failed": failed, "checks": checks}
    if fire_event:
        _fire(f"benchfarm/health/{'passed' if ret['ok'] else 'failed'}", ret)
    return ret


# worker and quarantine ---------------------------------------------------------
def _quarantine_file() -> str:
    return os.path.join(_state_dir(), "quarantine.json")


def _worker_service() -> str | None:
    """The worker's service name where ``service.*`` manages it (systemd, a node's runner), else None."""
    manager = __grains__.get("benchfarm_service_manager")
    if manager not in WORKER_SERVICES:
        return None
    return str(_cfg("worker:service", None) or WORKER_SERVICES[manager])


def worker_status() -> dict[str, Any]:
    """
    Report this host's benchfarm worker: service state, quarantine, host lock.

    Returns ``{"service": "running"|"stopped"|"unmanaged", "quarantined": bool,
    "quarantine": {...}|None, "locks": [lock files held], "queues": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.worker_status
    """
    worker = _worker_service()
    if worker is not None:
        service = "running" if __salt__["service.status"](worker) else "stopped"
    else:
        found = subprocess.run(["pgrep", "-f", "celery.*benchfarm"], capture_output=True, check=False)
        service = "running" if found.returncode == 0 else "unmanaged"
    quarantine = None
    if os.path.exists(_quarantine_file()):
        with open(_quarantine_file(), encoding="utf-8") as fh:
            quarantine = json.load(fh)
    lock_dir = os.path.join(_state_dir(), "locks")
    locks = sorted(os.listdir(lock_dir)) if os.path.isdir(lock_dir) else []
    return {
        "service": service,
        "quarantined": quarantine is not None,
        "quarantine": quarantine,
        "locks": locks,
        "queues": __grains__.get("benchfarm_queues", []),
    }


def quarantine(reason: str, checks: dict[str, dict[str, Any]] | None = None, notify: bool = True) -> dict[str, Any]:
    """
    Quarantine this host: write ``<state_dir>/quarantine.json`` (the worker takes no
    job while it exists), tell the farm (``POST /internal/host-events``), then stop the worker service where
    Salt manages it (systemd, a node's runner).

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.quarantine "disk full"
    """
    failed = sorted(name for name, result in (checks or {}).items() if not result.get("ok", True))
    if failed:
        reason = f"{reason}: {', '.join(failed)}"
    record: dict[str, Any] = {"reason": str(reason), "since": time.time(), "checks": checks or {}}
    os.makedirs(_state_dir(), exist_ok=True)
    with open(_quarantine_file(), "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    ret: dict[str, Any] = {"quarantined": True, "reason": record["reason"]}
    # the farm first, so it routes nothing more here while the worker stops (the marker already keeps the
    # worker from taking a job it is handed meanwhile)
    if notify:
        ret["notified"] = _api_post("/internal/host-events", _host_payload("quarantined", record["reason"], checks))
    worker = _worker_service()
    if worker is not None:
        __salt__["service.stop"](worker)
    return ret


def release(reason: str = "health check passed", notify: bool = True) -> dict[str, Any]:
    """
    Release this host from quarantine: remove the marker, start the worker service
    where Salt manages it (systemd, a node's runner), tell the farm. A host not in quarantine is left as it
    is here, but the farm still learns that it is good: a freshly registered host
    (status ``unknown``) leaves ``unknown`` only this way (the farm keeps an
    operator's maintenance; see ``Inventory.apply_host_event``).

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.release
    """
    if not os.path.exists(_quarantine_file()):
        ret: dict[str, Any] = {"released": False, "comment": "host was not quarantined"}
        if notify:
            ret["notified"] = _api_post("/internal/host-events", _host_payload("good", reason, None))
        return ret
    os.remove(_quarantine_file())
    worker = _worker_service()
    if worker is not None:
        __salt__["service.start"](worker)
    ret = {"released": True, "reason": reason}
    if notify:
        ret["notified"] = _api_post("/internal/host-events", _host_payload("good", reason, None))
    return ret


def register(notify: bool = True) -> dict[str, Any]:
    """
    Register this host in its pool: tell the farm its capabilities from grains
    (``POST /internal/host-events``, status ``unknown`` until a health check passes).

    Returns ``{"host_id", "pool", "capabilities": {...}, "notified": {...}}``.

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.register
    """
    from benchfarm.inventory.hardware import capabilities_from_grains

    grains = dict(__grains__)
    caps = capabilities_from_grains(grains, host_id=grains["id"]).model_copy(update={"status": "unknown"})
    ret: dict[str, Any] = {"host_id": caps.host_id, "pool": caps.pool, "capabilities": caps.model_dump()}
    if notify:
        payload = {**_host_payload("unknown", "registered", None), "capabilities": ret["capabilities"]}
        ret["notified"] = _api_post("/internal/host-events", payload)
    return ret


def _host_payload(status: str, reason: str, checks: dict[str, Any] | None) -> dict[str, Any]:
    return reactor_payloads.host_event_payload(__grains__["id"], status, reason, checks or {}, time.time())


# containers --------------------------------------------------------------------
def run_container(
    image: str,
    command: str | list[str] | None = None,
    *,
    gpus: int | str | None = None,
    gpu_device_ids: list[str | int] | str | int | None = None,
    devices: list[str] | str | None = None,
    cpuset: str | int | None = None,
    mem_limit: str | int | None = None,
    network_mode: str = "none",
    name: str | None = None,
    labels: dict[str, Any] | None = None,
    docker_url: str | None = None,
) -> dict[str, Any]:
    """
    Start a detached benchmark container, with GPUs through Docker ``device_requests``.

    The container gets the runner's lock-down (read-only root, every capability
    dropped, no new privileges) and is created by the runner's engine adapter.

    image
        Image reference, ideally by digest.
    command
        The command: a string (one argument) or a list.
    gpus
        ``None`` (no GPU), a count, or ``all``.
    gpu_device_ids
        GPU indexes or UUIDs (instead of ``gpus``): a list, or a comma-separated string.
    devices
        Device nodes ``HOST[:CONTAINER[:PERMS]]`` under ``/dev`` (FPGAs and other accelerators).
    cpuset, mem_limit, network_mode, name, labels
        As ``docker run`` takes them; the network is ``none`` unless asked.

    Returns ``{"id", "name", "status"}``; raises ``CommandExecutionError`` on a bad
    argument or an engine error (a container the engine refuses to start is removed).

    CLI Example:

    .. code-block:: bash

        salt gpu-node benchfarm.run_container registry:15000/bench/gemm@sha256:... gpus=all
        salt fpga-node benchfarm.run_container bench/xrt-validate devices='["/dev/xclmgmt15104:/dev/fpga0:rw"]'
    """
    try:
        cs = container_args.parse_container_spec(
            image,
            command=command,
            gpus=gpus,
            gpu_device_ids=gpu_device_ids,
            devices=devices,
            cpuset=cpuset,
            mem_limit=mem_limit,
            network_mode=network_mode,
            name=name,
            labels=labels,
        )
    except BenchfarmError as exc:
        raise _failed("bad run_container argument", exc) from exc
    engine = _engine(docker_url)
    try:
        try:
            container_id = engine.create(cs)
        except BenchfarmError as exc:
            raise _failed(f"docker could not create a container of {image}", exc) from exc
        try:
            engine.start(container_id)
        except BenchfarmError as exc:
            # leave nothing behind when the engine refuses (e.g. no nvidia runtime)
            with contextlib.suppress(BenchfarmError):
                engine.remove(container_id)
            raise _failed(f"docker could not start {image}", exc) from exc
        try:
            state = engine.state(container_id)
        except BenchfarmError as exc:
            raise _failed(f"docker started {container_id[:12]} but cannot inspect it", exc) from exc
    finally:
        engine.close()
    return {"id": container_id, "name": cs.name, "status": state.status}


def stop_container(name: str, timeout: int = 10, remove: bool = False, docker_url: str | None = None) -> dict[str, Any]:
    """
    Stop a container (SIGTERM, then SIGKILL after ``timeout`` seconds); optionally remove it.

    Returns ``{"name", "stopped": bool, "removed": bool}``; a container that does not
    exist returns ``stopped: False`` with a comment. Raises ``CommandExecutionError``
    when the engine fails.

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.stop_container bf-job-1234 remove=True
    """
    engine = _engine(docker_url)
    try:
        engine.stop(name, timeout=int(timeout))
        if remove:
            engine.remove(name)
    except NotFoundError:
        return {"name": name, "stopped": False, "removed": False, "comment": "no such container"}
    except BenchfarmError as exc:
        raise _failed(f"docker could not stop {name}", exc) from exc
    finally:
        engine.close()
    return {"name": name, "stopped": True, "removed": bool(remove)}


def report_container_event(event: dict[str, Any], docker_url: str | None = None) -> dict[str, Any]:
    """
    Tell the farm about a benchmark container that died non-zero or by OOM.

    ``event`` is the Docker event as the ``docker_events`` engine fires it. Events of
    containers without the ``benchfarm.job_id`` label, and clean exits, are ignored.
    Posts to ``POST /internal/container-events`` (contract in
    ``benchfarm.inventory.reactor_payloads``).

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.report_container_event '{"Action": "oom", "Actor": {...}}'
    """
    oom_killed = None
    actor_id = (event.get("Actor") or {}).get("ID")
    if event.get("Action") == "die" and actor_id:
        engine = _engine(docker_url)
        try:  # the container may already be gone (auto-remove): then the oom event tells
            oom_killed = engine.state(actor_id).oom_killed
        except BenchfarmError as exc:
            log.debug("cannot inspect %s for OOMKilled: %s", actor_id, exc.message)
        finally:
            engine.close()
    payload = reactor_payloads.container_event_payload(event, __grains__["id"], oom_killed)
    if payload is None:
        return {"reported": False, "comment": "not a benchfarm job container that failed"}
    payload["source"] = "reconcile" if event.get("benchfarm_reconciled") else "stream"
    return {"reported": True, "payload": payload, **_api_post("/internal/container-events", payload)}


# images ------------------------------------------------------------------------
def image_present(ref: str, docker_url: str | None = None) -> bool:
    """
    True when the engine holds image ``ref`` (a tag, or a ``repo@sha256:...`` digest).

    Raises ``CommandExecutionError`` when the engine cannot be asked.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.image_present 127.0.0.1:15000/bench/stream@sha256:...
    """
    images = _images(docker_url)
    try:
        return images.exists(ref)
    except BenchfarmError as exc:
        raise _failed(f"could not look up {ref}", exc) from exc
    finally:
        images.close()


def pull_image(ref: str, docker_url: str | None = None) -> str:
    """
    Pull image ``ref`` (by digest from the farm registry); returns its image id.

    Raises ``CommandExecutionError`` when the pull fails.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.pull_image 127.0.0.1:15000/bench/stream@sha256:...
    """
    images = _images(docker_url)
    try:
        return images.pull(ref)
    except BenchfarmError as exc:
        raise _failed(f"could not pull {ref}", exc) from exc
    finally:
        images.close()


def remove_image(ref: str, docker_url: str | None = None) -> bool:
    """
    Remove image ``ref`` from the engine; False when it was not there.

    Raises ``CommandExecutionError`` when the engine refuses (e.g. a container uses it).

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.remove_image 127.0.0.1:15000/bench/stream@sha256:...
    """
    images = _images(docker_url)
    try:
        return images.remove(ref, force=False)
    except BenchfarmError as exc:
        raise _failed(f"could not remove {ref}", exc) from exc
    finally:
        images.close()
