"""
``service`` on a benchfarm node: the node's runner instead of systemd.

A node (a container that behaves like a farm host, see images/node/README.md) has no
systemd: its daemons are supervised by ``benchfarm-node-service`` (start, stop,
restart, status; one ``services.d/NAME.sh`` per service, restarted when it dies). This
module gives that runner Salt's ``service`` interface, so the formula's plain
``service.running`` / ``service.dead`` states, ``mod_watch`` restarts and
``salt node-a service.status worker`` work on a node unchanged, as the stock modules
(``systemd_service``, ``debian_service``) do on other hosts.

It loads as ``service`` only where the grain ``benchfarm_service_manager`` is ``node``
(``salt/_grains/benchfarm_grains.py`` decides that; no template does). A custom module
synced to ``extension_modules`` wins the ``service`` name over Salt's own
``debian_service``, which would otherwise load on a Debian host without systemd.

Enabled means started again when the node boots: the runner keeps the names of enabled
services as files in ``/etc/benchfarm-node/enabled/`` (the deploy script marks
``salt-minion`` there too).

:depends: a benchfarm node (``/usr/local/sbin/benchfarm-node-service``)
"""

import contextlib
import fnmatch
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__salt__: dict[str, Callable[..., Any]]
__grains__: dict[str, Any]

__virtualname__ = "service"

RUNNER = "/usr/local/sbin/benchfarm-node-service"
SERVICES_DIR = "/etc/benchfarm-node/services.d"
ENABLED_DIR = "/etc/benchfarm-node/enabled"
# the runner's `start` returns once the supervisor is spawned; wait this long for the daemon to run
START_WAIT_S = 15.0
STOPPED = 3  # the runner's exit status for "stopped"


def __virtual__() -> str | tuple[bool, str]:
    if __grains__.get("benchfarm_service_manager") == "node":
        return __virtualname__
    return (False, "benchfarm_node_service: not a benchfarm node (grain benchfarm_service_manager is not 'node')")


def _run(action: str, name: str) -> dict[str, Any]:
    if not available(name):
        raise CommandExecutionError(f"no service {name} on this node (known: {', '.join(get_all()) or 'none'})")
    return __salt__["cmd.run_all"]([RUNNER, action, name], python_shell=False, ignore_retcode=True)


def _check(action: str, name: str) -> bool:
    res = _run(action, name)
    if res["retcode"] != 0:
        raise CommandExecutionError(f"benchfarm-node-service {action} {name} failed (exit {res['retcode']}): "
                                    f"{(res.get('stderr') or res.get('stdout') or '').strip()}")
    return True


def _wait_running(name: str) -> bool:
    deadline = time.monotonic() + START_WAIT_S
    while True:
        if status(name):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def get_all() -> list[str]:
    """
    Every service this node's runner knows (``services.d/NAME.sh``).

    CLI Example:

    .. code-block:: bash

        salt node-a service.get_all
    """
    try:
        files = os.listdir(SERVICES_DIR)
    except FileNotFoundError:
        return []
    return sorted(f[: -len(".sh")] for f in files if f.endswith(".sh"))


def available(name: str) -> bool:
    """
    True when the node's runner knows service ``name``.

    CLI Example:

    .. code-block:: bash

        salt node-a service.available worker
    """
    return os.path.isfile(os.path.join(SERVICES_DIR, f"{name}.sh"))


def missing(name: str) -> bool:
    """
    True when the node's runner does not know service ``name`` (the inverse of ``available``).

    CLI Example:

    .. code-block:: bash

        salt node-a service.missing worker
    """
    return not available(name)


def status(name: str, sig: str | None = None) -> bool | dict[str, bool]:
    """
    True when service ``name`` runs (its supervisor and its daemon are alive).

    A glob (``salt-*``) returns ``{service: bool}`` for the matching services.
    ``sig`` is accepted for compatibility and ignored: the runner knows its daemons' pids.

    CLI Example:

    .. code-block:: bash

        salt node-a service.status worker
    """
    if any(c in name for c in "*?["):
        return {svc: bool(status(svc)) for svc in fnmatch.filter(get_all(), name)}
    if not available(name):
        return False
    return __salt__["cmd.run_all"]([RUNNER, "status", name], python_shell=False, ignore_retcode=True)["retcode"] == 0


def start(name: str) -> bool:
    """
    Start service ``name`` and wait (up to 15 s) until its daemon runs; False when it does not.

    CLI Example:

    .. code-block:: bash

        salt node-a service.start worker
    """
    _check("start", name)
    return _wait_running(name)


def stop(name: str) -> bool:
    """
    Stop service ``name`` (the runner sends SIGTERM, then SIGKILL after 20 s).

    CLI Example:

    .. code-block:: bash

        salt node-a service.stop worker
    """
    _check("stop", name)
    return not status(name)


def restart(name: str) -> bool:
    """
    Restart service ``name`` and wait until its daemon runs again.

    CLI Example:

    .. code-block:: bash

        salt node-a service.restart worker
    """
    _check("restart", name)
    return _wait_running(name)


def full_restart(name: str) -> bool:
    """
    Same as ``restart``: the runner always stops and starts the daemon.

    CLI Example:

    .. code-block:: bash

        salt node-a service.full_restart worker
    """
    return restart(name)


def reload_(name: str) -> bool:
    """
    Same as ``restart``: the node's daemons have no reload signal wired up.

    CLI Example:

    .. code-block:: bash

        salt node-a service.reload worker
    """
    return restart(name)


def force_reload(name: str) -> bool:
    """
    Same as ``restart``.

    CLI Example:

    .. code-block:: bash

        salt node-a service.force_reload worker
    """
    return restart(name)


def enabled(name: str, **kwargs: Any) -> bool:
    """
    True when service ``name`` is started when the node boots.

    CLI Example:

    .. code-block:: bash

        salt node-a service.enabled worker
    """
    return os.path.isfile(os.path.join(ENABLED_DIR, name))


def disabled(name: str) -> bool:
    """
    True when service ``name`` is not started when the node boots.

    CLI Example:

    .. code-block:: bash

        salt node-a service.disabled worker
    """
    return not enabled(name)


def enable(name: str, **kwargs: Any) -> bool:
    """
    Start service ``name`` when the node boots (marks it in ``/etc/benchfarm-node/enabled/``).

    CLI Example:

    .. code-block:: bash

        salt node-a service.enable worker
    """
    if not available(name):
        raise CommandExecutionError(f"no service {name} on this node")
    os.makedirs(ENABLED_DIR, exist_ok=True)
    with open(os.path.join(ENABLED_DIR, name), "w", encoding="utf-8") as fh:
        fh.write(f"{name}\n")
    return True


def disable(name: str, **kwargs: Any) -> bool:
    """
    Do not start service ``name`` when the node boots.

    CLI Example:

    .. code-block:: bash

        salt node-a service.disable worker
    """
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(ENABLED_DIR, name))
    return True


def get_enabled() -> list[str]:
    """
    The services started when the node boots.

    CLI Example:

    .. code-block:: bash

        salt node-a service.get_enabled
    """
    return [svc for svc in get_all() if enabled(svc)]


def get_disabled() -> list[str]:
    """
    The services not started when the node boots.

    CLI Example:

    .. code-block:: bash

        salt node-a service.get_disabled
    """
    return [svc for svc in get_all() if not enabled(svc)]


# `reload` would shadow the builtin; Salt maps the public name through __func_alias__
__func_alias__ = {"reload_": "reload"}
