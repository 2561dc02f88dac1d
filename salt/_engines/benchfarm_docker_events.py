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

:depends: docker (docker-py), benchfarm

.. code-block:: yaml

    engines_dirs: [/srv/benchfarm/salt/_engines]   # or saltutil.sync_engines
    engines:
      - benchfarm_docker_events:
          docker_url: unix:///var/run/docker.sock
"""

import json
import logging
import time

log = logging.getLogger(__name__)

try:
    import docker

    HAS_DOCKER = True
except ImportError:
    HAS_DOCKER = False


def __virtual__():
    if not HAS_DOCKER:
        return (False, "benchfarm_docker_events: docker-py is not installed")
    return True


def _fire(tag, data):
    __salt__["event.send"](tag, data)  # pylint: disable=undefined-variable


def _reconcile(client, since):
    from benchfarm.inventory.event_stream import reconcile  # pylint: disable=import-outside-toplevel

    inspected = []
    for summary in client.containers(all=True, filters={"label": "benchfarm.job_id"}):
        try:
            inspected.append(client.inspect_container(summary["Id"]))
        except docker.errors.NotFound:
            continue
    reported = []
    for event in reconcile(inspected, since):
        try:
            ret = __salt__["benchfarm.report_container_event"](event)  # pylint: disable=undefined-variable
        except Exception as exc:  # pylint: disable=broad-except
            ret = {"reported": False, "error": str(exc)}
        reported.append({"container_id": event["Actor"]["ID"], "action": event["Action"], "return": ret})
    return reported


def start(docker_url="unix:///var/run/docker.sock", tag="salt/engines/docker_events", filters=None,
          retry_max_s=10.0, reconcile_margin_s=5.0):
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
        client = None
        try:
            client = docker.APIClient(base_url=docker_url, timeout=30)
            client.ping()
            connected = True
            started = time.time()
            _fire("benchfarm/docker/stream/connected", {"reconnect": broke_at is not None, "since": broke_at})
            stream = client.events(filters=filters, since=int(started) if broke_at is not None else None)
            if broke_at is not None:
                reported = _reconcile(client, broke_at - reconcile_margin_s)
                _fire("benchfarm/docker/stream/reconciled", {"since": broke_at, "reported": reported})
            delay = 0.5
            for raw in stream:
                data = json.loads(raw.decode("utf-8", errors="replace"))
                _fire("{}/{}".format(tag, data.get("Action") or data.get("status")), data)
            log.warning("benchfarm_docker_events: the Docker event stream ended; reconnecting")
        except Exception as exc:  # pylint: disable=broad-except
            log.warning("benchfarm_docker_events: Docker event stream broke (%s); reconnecting", exc)
        finally:
            if client is not None:
                try:
                    client.close()
                except Exception:  # pylint: disable=broad-except
                    pass
        if connected:  # the gap starts when a live stream broke, not at each failed retry
            broke_at = time.time()
            connected = False
        time.sleep(delay)
        delay = min(delay * 2, retry_max_s)
