#!py
"""Pillar of a benchfarm node (a container that behaves like a farm host), rendered on the master.

A node is a host of its own: the formula manages its real paths (root ''), and its worker
runs with the farm's settings as the host's worker does. Those settings are computed here,
on the master, by the same code that ``benchfarm nodes add`` writes a node's config with
(``benchfarm.nodes.link``): the host's service addresses (a node reaches them on its own
127.0.0.1 through its forward relay), the node's id and pool, its own state dirs. Python
rather than Jinja, so the values are the farm's and nothing is decided in a template.

What differs because a node has no systemd (service names, no unit files, no packages)
is not here: states/benchfarm/hostmap.yaml keys it on the grain benchfarm_service_manager.
"""

from typing import Any

# injected by Salt's py renderer
__grains__: dict[str, Any]


def run() -> dict[str, Any]:
    from benchfarm.nodes.link import node_worker_settings, shared_settings
    from benchfarm.settings import Settings

    settings = Settings()  # the master's environment and config file: the farm's settings
    node = __grains__["id"]
    static = __grains__.get("benchfarm") or {}
    pool = str((static.get("pool") if isinstance(static, dict) else None) or __grains__.get("benchfarm_pool")
               or "default")
    return {
        "benchfarm": {
            "root": "",
            # /etc/benchfarm/config.yaml of the node's worker
            "config": node_worker_settings(shared_settings(settings), node=node, pool=pool),
            # benchfarm.register / health events post to the farm's internal routes with the internal credential
            # (never the admin token: a node's pillar opens /internal/* and nothing else)
            "internal_token": settings.resolved_internal_token() or "",
            # a node's health check judges the load average of the machine all its nodes share
            "health": {"max_load_per_cpu": settings.node_max_load_per_cpu},
        },
    }
