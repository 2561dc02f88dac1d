"""How a node reaches the farm: the forwarded service ports and the settings of the node's worker.

The farm's services listen on loopback only. A node is a container on the farm's
internal node network, so loopback is not the host's for it; yet a host in the field
and a node should run with the *same* settings. So each farm service port is relayed
twice by Debian's ``socat`` (a well-kept relay; no hand-written proxy):

* on the host, the stack's ``node-gateway`` service listens on the node network's
  gateway address (that address only) and forwards to the service on 127.0.0.1;
* in the node, its ``forward`` service listens on the node's own 127.0.0.1 and
  forwards to the gateway.

A node's worker, minion and engine then use ``127.0.0.1:<port>`` exactly as the host
does: its config file carries the host's service settings unchanged, and an image
reference ``127.0.0.1:15000/...@sha256:...`` means the farm registry on both (a
registry on loopback needs no ``--insecure-registry`` flag in either engine).

Only the ports a node's daemons use are forwarded: Redis (broker and job records),
Elasticsearch (samples and results), the Salt master's two ports (the minion), the
registry (images by digest) and the HTTP API (the node's minion reports registration
and health-check verdicts through it, as a field host's does).
A service the settings point elsewhere than loopback (an external cluster) is not
relayed; a node reaches only what the farm runs on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from benchfarm.settings import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")

# where a node's worker keeps its state (inside the node; its engine's data is on the node's volume)
NODE_STATE_DIR = "/var/lib/benchfarm"
NODE_CACHE_DIR = "/var/cache/benchfarm"
NODE_CONFIG_FILE = "/etc/benchfarm/config.yaml"

# settings a node's worker shares with the host: where the services are, and farm-wide knobs.
# Per-host values (minion_id, pool, state and cache dirs, allowed devices, slots) are the node's own.
SHARED_SETTINGS = (
    "redis_host", "redis_port", "redis_url",
    "elasticsearch_host", "elasticsearch_port", "elasticsearch_url", "index_prefix",
    "salt_master_host", "salt_publish_port", "salt_ret_port",
    "registry_host", "registry_port",
    "visibility_timeout_s", "worker_lease_s", "worker_max_attempts",
    "sample_interval_s", "sample_batch_interval_s", "ship_between_repetitions_only", "telemetry_warning_threshold",
)


@dataclass(frozen=True)
class ForwardedPort:
    """One farm service port relayed to nodes: the node's 127.0.0.1:port -> gateway:port -> target:port."""

    service: str
    port: int
    target: str = "127.0.0.1"   # where the service listens on the host

    def as_arg(self) -> str:
        """``PORT:TARGET:PORT``, the form the gateway's and the node's forward scripts take."""
        return f"{self.port}:{self.target}:{self.port}"


def forwarded_ports(settings: Settings) -> tuple[ForwardedPort, ...]:
    """The farm service ports nodes need, for the services this machine runs on loopback.

    A service whose explicit URL or host is not loopback is left out (see the module docstring).
    """
    candidates = [
        ("redis", settings.redis_host, settings.redis_port, settings.redis_url),
        ("elasticsearch", settings.elasticsearch_host, settings.elasticsearch_port, settings.elasticsearch_url),
        ("salt-publish", settings.salt_master_host, settings.salt_publish_port, None),
        ("salt-ret", settings.salt_master_host, settings.salt_ret_port, None),
        ("registry", settings.registry_host, settings.registry_port, None),
        ("api", settings.api_host, settings.api_port, settings.api_url),
    ]
    out: list[ForwardedPort] = []
    for service, host, port, url in candidates:
        if url is not None and not any(f"//{h}:" in url or f"//[{h}]:" in url for h in LOOPBACK):
            continue
        if host not in LOOPBACK:
            continue
        if any(f.port == port for f in out):
            continue
        out.append(ForwardedPort(service, port, "127.0.0.1" if host == "localhost" else host))
    return tuple(out)


NODE_REDIS_USER = "benchfarm-worker"      # a node's worker is a worker: the stack's worker ACL user
NODE_ELASTICSEARCH_USER = "benchfarm-writer"


def shared_settings(settings: Settings) -> dict[str, Any]:
    """The host's settings a node's worker runs with unchanged (JSON-safe values), with the worker's credentials.

    The credentials are the stack's worker ones (the settings' own when they name a password for an external
    cluster); the config file that carries them is root-only in the node.
    """
    dumped = settings.model_dump(mode="json")
    shared = {name: dumped[name] for name in SHARED_SETTINGS if dumped.get(name) is not None}
    redis = (settings.redis_credentials() if settings.redis_password
             else settings.redis_credentials(NODE_REDIS_USER))
    if redis:
        shared["redis_username"], shared["redis_password"] = redis
    es = (settings.elasticsearch_credentials() if settings.elasticsearch_password
          else settings.elasticsearch_credentials(NODE_ELASTICSEARCH_USER))
    if es:
        shared["elasticsearch_username"], shared["elasticsearch_password"] = es
    return shared


def node_worker_settings(shared: dict[str, Any], *, node: str, pool: str) -> dict[str, Any]:
    """The settings of node ``node``'s worker: the host's shared ones, the node's identity and its own paths."""
    return {**shared, "minion_id": node, "pool": pool, "state_dir": NODE_STATE_DIR, "cache_dir": NODE_CACHE_DIR,
            "docker_url": "unix:///var/run/docker.sock",
            "schedules_enabled": False}  # a node's engine lacks the images a scheduled job names


def worker_config_yaml(shared: dict[str, Any], *, node: str, pool: str) -> str:
    """``/etc/benchfarm/config.yaml`` of a node (what the Salt states write on a host in the field)."""
    header = (f"# benchfarm settings of node {node}, written by `benchfarm nodes add` on the host.\n"
              "# Service addresses are the host's own: the node's `forward` service relays 127.0.0.1 to the host.\n")
    return header + yaml.safe_dump(node_worker_settings(shared, node=node, pool=pool), sort_keys=True)
