"""
Docker events on the Salt bus, surviving a dockerd restart.

Same tags and data as ``saltext-dockermod``'s ``docker_events`` engine
(``salt/engines/docker_events/<Action>``, the Docker event as data), so the
reactors in ``reactors/`` do not care which runs. Unlike it, this engine does not
give up when the stream breaks (dockerd restarted, socket gone): it reconnects
with a back-off, fires ``benchfarm/docker/stream/connected`` (``reconnect: true``
after a break), and reconciles: benchmark containers that died while the stream
was down are reported through ``benchfarm.report_container_event`` as if the
stream had seen them (``benchfarm.inventory.event_stream.reconcile``).

Every Docker call goes through the farm's engine adapter
(``benchfarm.adapters.docker_engine.ContainerEngine``): it raises
``ServiceUnavailableError`` when dockerd cannot be reached or the stream breaks,
which is this engine's cue to reconnect.

:depends: benchfarm (with docker-py)

.. code-block:: yaml

    engines_dirs: [/srv/benchfarm/salt/_engines]   # or saltutil.sync_engines
    engines:
      - benchfarm_docker_events:
          docker_url: unix:///var/run/docker.sock
"""

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__salt__: dict[str, Callable[..., Any]]

try:
    from benchfarm.adapters.docker_engine import ContainerEngine
    from benchfarm.errors import BenchfarmError, NotFoundError, ServiceUnavailableError
    from benchfarm.inventory.event_stream import reconcile as _reconcile_events
    from benchfarm.inventory.reactor_payloads import JOB_LABEL
except ImportError as _exc:  # benchfarm (or docker-py, which it brings) is not installed on this minion
    HAS_BENCHFARM = False
    _IMPORT_ERROR = str(_exc)
else:
    HAS_BENCHFARM = True
    _IMPORT_ERROR = ""


def __virtual__() -> bool | tuple[bool, str]:
    if not HAS_BENCHFARM:
        return (False, f"benchfarm_docker_events: the benchfarm package is not importable ({_IMPORT_ERROR})")
    return True


def _fire(tag: str, data: dict[str, Any]) -> None:
    __salt__["event.send"](tag, data)


def _reconcile(engine: "ContainerEngine", since: float) -> list[dict[str, Any]]:
    """Report the benchmark containers that died badly after ``since`` (the stream was down)."""
    inspected = []
    for summary in engine.containers_with_label(JOB_LABEL):
        try:
            inspected.append(engine.inspect(summary["id"]))
        except NotFoundError:  # removed between the listing and the inspect
            continue
    reported = []
    for event in _reconcile_events(inspected, since):
        try:
            ret = __salt__["benchfarm.report_container_event"](event)
        except Exception as exc:  # one failed report must not stop the others
            ret = {"reported": False, "error": str(exc)}
        reported.append({"container_id": event["Actor"]["ID"], "action": event["Action"], "return": ret})
    return reported


def start(
    docker_url: str = "unix:///var/run/docker.sock",
    tag: str = "salt/engines/docker_events",
    filters: dict[str, Any] | None = None,
    retry_max_s: float = 10.0,
    reconcile_margin_s: float = 5.0,
) -> None:
    """
    Stream Docker events to the Salt bus forever, reconnecting and reconciling after a break.

    docker_url
        The engine's API socket.
    tag
        Tag prefix of the fired events (the saltext engine's by default).
    filters
        Docker event filters (e.g. ``{"event": ["die", "oom"]}``).
    retry_max_s
        Longest wait between reconnection attempts.
    reconcile_margin_s
        Containers that finished this long before the break are reconciled too.
    """
    broke_at = None
    connected = False
    delay = 0.5
    while True:
        engine = ContainerEngine(docker_url, timeout=30)
        try:
            engine.ping()
            connected = True
            started = time.time()
            _fire("benchfarm/docker/stream/connected", {"reconnect": broke_at is not None, "since": broke_at})
            stream = engine.events(filters=filters, since=int(started) if broke_at is not None else None)
            if broke_at is not None:
                reported = _reconcile(engine, broke_at - reconcile_margin_s)
                _fire("benchfarm/docker/stream/reconciled", {"since": broke_at, "reported": reported})
            delay = 0.5
            for data in stream:
                _fire("{}/{}".format(tag, data.get("Action") or data.get("status")), data)
            log.warning("benchfarm_docker_events: the Docker event stream ended; reconnecting")
        except ServiceUnavailableError as exc:  # dockerd stopped, restarting or not up yet
            log.warning("benchfarm_docker_events: Docker event stream broke (%s); reconnecting", exc.message)
        except BenchfarmError as exc:  # the engine refused a call: retry as after a break
            log.warning("benchfarm_docker_events: Docker refused (%s); reconnecting", exc.message)
        except Exception:  # the engine must outlive a bad event or a failed send to the bus
            log.exception("benchfarm_docker_events: unexpected error; reconnecting")
        finally:
            engine.close()
        if connected:  # the gap starts when a live stream broke, not at each failed retry
            broke_at = time.time()
            connected = False
        time.sleep(delay)
        delay = min(delay * 2, retry_max_s)
