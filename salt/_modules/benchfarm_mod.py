"""
Benchfarm execution module: host health, worker status, quarantine, and benchmark
containers with GPU ``device_requests`` (what ``saltext-dockermod`` lacks).

Thin Salt glue over the plain-Python ``benchfarm`` package (argument building in
``benchfarm.inventory.container_args``, payloads in ``benchfarm.inventory.reactor_payloads``).
The file is not named ``benchfarm.py``: Salt's loader puts this directory on
``sys.path`` while loading, which would shadow the ``benchfarm`` package.

:depends: benchfarm (installed by the ``benchfarm.worker`` state), docker (docker-py), httpx

Settings read from pillar ``benchfarm`` (see ``salt/pillar.example``): ``root``,
``state_dir``, ``api_url``, ``api_token``, ``health``.
"""

import logging
import os
import shutil
import subprocess
import time

log = logging.getLogger(__name__)

__virtualname__ = "benchfarm"

try:
    from benchfarm.inventory import container_args, reactor_payloads

    HAS_BENCHFARM = True
except ImportError:
    HAS_BENCHFARM = False

WORKER_SERVICE = "benchfarm-worker"
DEFAULT_HEALTH = {
    "min_free_bytes": 2 * 1024**3,  # on the docker data root and the state dir
    "max_load_per_cpu": 4.0,  # 1-minute load average / CPUs
    "validate_images": False,  # run each farm image's validate command
    "validate_timeout": 300,
}


def __virtual__():
    if not HAS_BENCHFARM:
        return (False, "benchfarm module: the benchfarm package is not installed (apply state benchfarm.worker)")
    return __virtualname__


# helpers -------------------------------------------------------------------
def _cfg(key, default=None):
    # read __pillar__ directly: pillar.get masks values ("**********") outside templates since 3008
    import salt.utils.data  # pylint: disable=import-outside-toplevel

    return salt.utils.data.traverse_dict_and_list(__pillar__, f"benchfarm:{key}", default)  # pylint: disable=undefined-variable


def _path(path):
    """A managed path under the pillar ``benchfarm:root`` prefix (tests use a temp root)."""
    root = _cfg("root", "") or ""
    return os.path.join(root, path.lstrip("/")) if root else path


def _state_dir():
    return _path(_cfg("state_dir", "/var/lib/benchfarm"))


def _docker_client(docker_url=None):
    import docker  # pylint: disable=import-outside-toplevel

    url = docker_url or _cfg("docker_url", "unix:///var/run/docker.sock")
    return docker.DockerClient(base_url=url, timeout=60)


def _api_post(path, payload):
    import httpx  # pylint: disable=import-outside-toplevel

    from benchfarm.settings import get_settings  # pylint: disable=import-outside-toplevel

    settings = get_settings()
    url = (_cfg("api_url") or settings.effective_api_url).rstrip("/") + path
    token = _cfg("api_token") or settings.resolved_api_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(url, json=payload, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        return {"posted": False, "url": url, "error": str(exc)}
    return {"posted": resp.is_success, "url": url, "status_code": resp.status_code}


def _fire(tag, data):
    try:
        __salt__["event.send"](tag, data)  # pylint: disable=undefined-variable
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("could not fire %s: %s", tag, exc)


# health ----------------------------------------------------------------------
def _check_docker(client_factory):
    try:
        client = client_factory()
        client.ping()
        root = client.info().get("DockerRootDir", "/var/lib/docker")
        return {"ok": True, "detail": "docker answers", "data_root": root}
    except Exception as exc:  # pylint: disable=broad-except
        return {"ok": False, "detail": f"docker does not answer: {exc}"}


def _check_free(path, min_free):
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        free = shutil.disk_usage(probe or "/").free
    except OSError as exc:
        return {"ok": False, "detail": f"{path}: {exc}"}
    return {"ok": free >= min_free, "detail": f"{path}: {free} bytes free (minimum {min_free})", "free_bytes": free}


def _check_load(max_per_cpu):
    load1 = os.getloadavg()[0]
    per_cpu = load1 / (os.cpu_count() or 1)
    return {"ok": per_cpu <= max_per_cpu, "detail": f"load {load1:.2f} = {per_cpu:.2f}/cpu (maximum {max_per_cpu})"}


def _validate_images(client_factory, timeout):
    """Run each pillar image's ``benchfarm.validate`` label command in a throw-away container."""
    results = {}
    images = _cfg("images", []) or []
    client = client_factory()
    for entry in images:
        ref = entry["image"] if isinstance(entry, dict) else str(entry)
        try:
            image = client.images.get(ref)
            command = (image.labels or {}).get("benchfarm.validate")
            if not command:
                results[ref] = {"ok": True, "detail": "no validate command"}
                continue
            container = client.containers.run(ref, command=["/bin/sh", "-c", command], detach=True, network_mode="none")
            try:
                code = container.wait(timeout=timeout).get("StatusCode")
            finally:
                container.remove(force=True)
            results[ref] = {"ok": code == 0, "detail": f"validate exited {code}"}
        except Exception as exc:  # pylint: disable=broad-except
            results[ref] = {"ok": False, "detail": f"validate could not run: {exc}"}
    return results


def health_check(validate_images=None, fire_event=False, docker_url=None):
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
        validate_images = cfg["validate_images"]

    def factory():
        return _docker_client(docker_url)

    checks = {"docker": _check_docker(factory)}
    data_root = checks["docker"].get("data_root", _cfg("docker:data_root", "/var/lib/docker"))
    checks["disk_docker"] = _check_free(data_root, int(cfg["min_free_bytes"]))
    checks["disk_state"] = _check_free(_state_dir(), int(cfg["min_free_bytes"]))
    checks["load"] = _check_load(float(cfg["max_load_per_cpu"]))
    lock_dir = os.path.join(_state_dir(), "locks")
    checks["lock_dir"] = {"ok": os.path.isdir(lock_dir), "detail": lock_dir}
    if validate_images and checks["docker"]["ok"]:
        for ref, result in _validate_images(factory, int(cfg["validate_timeout"])).items():
            checks[f"validate:{ref}"] = result
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    ret = {"ok": not failed, "failed": failed, "checks": checks}
    if fire_event:
        _fire(f"benchfarm/health/{'passed' if ret['ok'] else 'failed'}", ret)
    return ret


# worker and quarantine ---------------------------------------------------------
def _quarantine_file():
    return os.path.join(_state_dir(), "quarantine.json")


def worker_status():
    """
    Report this host's benchfarm worker: service state, quarantine, host lock.

    Returns ``{"service": "running"|"stopped"|"unmanaged", "quarantined": bool,
    "quarantine": {...}|None, "locks": [lock files held], "queues": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.worker_status
    """
    import json  # pylint: disable=import-outside-toplevel

    if __grains__.get("benchfarm_service_manager") == "systemd":  # pylint: disable=undefined-variable
        service = "running" if __salt__["service.status"](WORKER_SERVICE) else "stopped"  # pylint: disable=undefined-variable
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
        "queues": __grains__.get("benchfarm_queues", []),  # pylint: disable=undefined-variable
    }


def quarantine(reason, checks=None, notify=True):
    """
    Quarantine this host: write ``<state_dir>/quarantine.json`` (the worker takes no
    job while it exists), stop the worker service where systemd manages it, and tell
    the farm (``POST /internal/host-events``).

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.quarantine "disk full"
    """
    import json  # pylint: disable=import-outside-toplevel

    failed = sorted(name for name, result in (checks or {}).items() if not result.get("ok", True))
    if failed:
        reason = f"{reason}: {', '.join(failed)}"
    record = {"reason": str(reason), "since": time.time(), "checks": checks or {}}
    os.makedirs(_state_dir(), exist_ok=True)
    with open(_quarantine_file(), "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    if __grains__.get("benchfarm_service_manager") == "systemd":  # pylint: disable=undefined-variable
        __salt__["service.stop"](WORKER_SERVICE)  # pylint: disable=undefined-variable
    ret = {"quarantined": True, "reason": record["reason"]}
    if notify:
        ret["notified"] = _api_post("/internal/host-events", _host_payload("quarantined", record["reason"], checks))
    return ret


def release(reason="health check passed", notify=True):
    """
    Release this host from quarantine: remove the marker, start the worker service
    where systemd manages it, tell the farm. A host not in quarantine is left as it
    is here, but the farm still learns that it is good: a freshly registered host
    (status ``unknown``) leaves ``unknown`` only this way (the farm keeps an
    operator's maintenance; see ``Inventory.apply_host_event``).

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.release
    """
    if not os.path.exists(_quarantine_file()):
        ret = {"released": False, "comment": "host was not quarantined"}
        if notify:
            ret["notified"] = _api_post("/internal/host-events", _host_payload("good", reason, None))
        return ret
    os.remove(_quarantine_file())
    if __grains__.get("benchfarm_service_manager") == "systemd":  # pylint: disable=undefined-variable
        __salt__["service.start"](WORKER_SERVICE)  # pylint: disable=undefined-variable
    ret = {"released": True, "reason": reason}
    if notify:
        ret["notified"] = _api_post("/internal/host-events", _host_payload("good", reason, None))
    return ret


def register(notify=True):
    """
    Register this host in its pool: tell the farm its capabilities from grains
    (``POST /internal/host-events``, status ``unknown`` until a health check passes).

    Returns ``{"host_id", "pool", "capabilities": {...}, "notified": {...}}``.

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.register
    """
    from benchfarm.inventory.hardware import capabilities_from_grains  # pylint: disable=import-outside-toplevel

    grains = dict(__grains__)  # pylint: disable=undefined-variable
    caps = capabilities_from_grains(grains, host_id=grains["id"]).model_copy(update={"status": "unknown"})
    ret = {"host_id": caps.host_id, "pool": caps.pool, "capabilities": caps.model_dump()}
    if notify:
        payload = {**_host_payload("unknown", "registered", None), "capabilities": ret["capabilities"]}
        ret["notified"] = _api_post("/internal/host-events", payload)
    return ret


def _host_payload(status, reason, checks):
    return reactor_payloads.host_event_payload(
        __grains__["id"], status, reason, checks or {}, time.time()  # pylint: disable=undefined-variable
    )


# containers --------------------------------------------------------------------
def run_container(
    image,
    command=None,
    gpus=None,
    gpu_device_ids=None,
    devices=None,
    cpuset=None,
    mem_limit=None,
    network_mode="none",
    name=None,
    labels=None,
    docker_url=None,
):
    """
    Start a detached benchmark container, with GPUs through Docker ``device_requests``.

    image
        Image reference, ideally by digest.
    gpus
        ``None`` (no GPU), a count, or ``all``.
    gpu_device_ids
        GPU indexes or UUIDs (instead of ``gpus``).
    devices
        Device nodes ``HOST[:CONTAINER[:PERMS]]`` (FPGAs and other accelerators).
    cpuset, mem_limit, network_mode, name, labels
        As ``docker run`` takes them; the network is ``none`` unless asked.

    Returns ``{"id", "name", "status"}``; raises ``CommandExecutionError`` on a bad
    argument or an engine error.

    CLI Example:

    .. code-block:: bash

        salt gpu-node benchfarm.run_container registry:15000/bench/gemm@sha256:... gpus=all
        salt fpga-node benchfarm.run_container bench/xrt-validate devices='["/dev/xclmgmt15104:/dev/fpga0:rw"]'
    """
    from salt.exceptions import CommandExecutionError  # pylint: disable=import-outside-toplevel

    from benchfarm.adapters.docker_engine import ContainerEngine  # pylint: disable=import-outside-toplevel
    from benchfarm.errors import BenchfarmError  # pylint: disable=import-outside-toplevel

    engine = ContainerEngine(docker_url or _cfg("docker_url", "unix:///var/run/docker.sock"))
    try:
        cs = container_args.build_container_spec(
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
        container_id = engine.create(cs)
    except BenchfarmError as exc:
        raise CommandExecutionError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from exc
    try:
        engine.start(container_id)
    except BenchfarmError as exc:
        engine.remove(container_id)  # leave nothing behind when the engine refuses (e.g. no nvidia runtime)
        raise CommandExecutionError(f"docker could not start {image}: {exc.message}") from exc
    state = engine.state(container_id)
    return {"id": container_id, "name": cs.name, "status": state.status}


def stop_container(name, timeout=10, remove=False, docker_url=None):
    """
    Stop a container (SIGTERM, then SIGKILL after ``timeout`` seconds); optionally remove it.

    Returns ``{"name", "stopped": bool, "removed": bool}``; a container that does not
    exist returns ``stopped: False`` with a comment.

    CLI Example:

    .. code-block:: bash

        salt node-a benchfarm.stop_container bf-job-1234 remove=True
    """
    import docker  # pylint: disable=import-outside-toplevel
    from salt.exceptions import CommandExecutionError  # pylint: disable=import-outside-toplevel

    try:
        container = _docker_client(docker_url).containers.get(name)
    except docker.errors.NotFound:
        return {"name": name, "stopped": False, "removed": False, "comment": "no such container"}
    try:
        container.stop(timeout=int(timeout))
        if remove:
            container.remove(force=True)
    except docker.errors.DockerException as exc:
        raise CommandExecutionError(f"docker could not stop {name}: {exc}") from exc
    return {"name": name, "stopped": True, "removed": bool(remove)}


def report_container_event(event, docker_url=None):
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
        try:  # the container may already be gone (auto-remove): then the oom event tells
            oom_killed = bool(_docker_client(docker_url).api.inspect_container(actor_id)["State"].get("OOMKilled"))
        except Exception:  # pylint: disable=broad-except
            oom_killed = None
    payload = reactor_payloads.container_event_payload(event, __grains__["id"], oom_killed)  # pylint: disable=undefined-variable
    if payload is None:
        return {"reported": False, "comment": "not a benchfarm job container that failed"}
    payload["source"] = "reconcile" if event.get("benchfarm_reconciled") else "stream"
    return {"reported": True, "payload": payload, **_api_post("/internal/container-events", payload)}


# images ------------------------------------------------------------------------
def image_present(ref, docker_url=None):
    """
    True when the engine holds image ``ref`` (a tag, or a ``repo@sha256:...`` digest).

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.image_present 127.0.0.1:15000/bench/stream@sha256:...
    """
    import docker  # pylint: disable=import-outside-toplevel

    try:
        _docker_client(docker_url).images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def pull_image(ref, docker_url=None):
    """
    Pull image ``ref`` (by digest from the farm registry); returns its image id.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.pull_image 127.0.0.1:15000/bench/stream@sha256:...
    """
    import docker  # pylint: disable=import-outside-toplevel
    from salt.exceptions import CommandExecutionError  # pylint: disable=import-outside-toplevel

    try:
        return _docker_client(docker_url).images.pull(ref).id
    except docker.errors.DockerException as exc:
        raise CommandExecutionError(f"could not pull {ref}: {exc}") from exc


def remove_image(ref, docker_url=None):
    """
    Remove image ``ref`` from the engine; False when it was not there.

    CLI Example:

    .. code-block:: bash

        salt '*' benchfarm.remove_image 127.0.0.1:15000/bench/stream@sha256:...
    """
    import docker  # pylint: disable=import-outside-toplevel
    from salt.exceptions import CommandExecutionError  # pylint: disable=import-outside-toplevel

    try:
        _docker_client(docker_url).images.remove(ref)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise CommandExecutionError(f"could not remove {ref}: {exc}") from exc
    return True
