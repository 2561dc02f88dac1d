"""`benchfarm nodes`: containers that behave like farm hosts (own engine, CPU set, memory) on this machine.

Runs on the machine whose Docker engine holds the nodes, as root (it reads the host's cgroupfs).
Exit codes as everywhere: 2 for a bad or taken name, a CPU set outside this machine or too little
memory; 3 when the node image cannot be built here; 4 when the engine or Redis is down; 1 when a node
or its worker does not come up (the message carries its log).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json, progress
from benchfarm.nodes.manager import NodeManager
from benchfarm.nodes.model import NodeSpec
from benchfarm.nodes.resources import format_size
from benchfarm.nodes.worker import NodeWorkers
from benchfarm.stack.node_enrolment import VIAS, SaltNodeEnrolment

app = typer.Typer(help="Nodes: containers that behave like farm hosts on this machine (add, list, remove).",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _manager() -> NodeManager:
    from benchfarm.cli.farm import farm

    return farm().nodes


def _workers() -> NodeWorkers:
    from benchfarm.cli.farm import farm

    return farm().node_workers


def _enrolment() -> SaltNodeEnrolment:
    from benchfarm.cli.farm import farm

    f = farm()
    return SaltNodeEnrolment(f.settings, f.nodes, f.host_registry)


def _ensure_image(force: bool = False) -> str:
    from benchfarm.adapters.docker_images import DockerImages
    from benchfarm.nodes.config import NodeFarmConfig
    from benchfarm.nodes.image import NodeImageBuilder
    from benchfarm.settings import get_settings

    settings = get_settings()
    images = DockerImages.from_settings(settings)
    try:
        return NodeImageBuilder(images, NodeFarmConfig.from_settings(settings)).ensure(progress, force=force).ref
    finally:
        images.close()


@app.command()
def add(
    name: str,
    pool: Annotated[str, typer.Option("--pool", help="The pool the node joins.")] = "default",
    cpus: Annotated[str, typer.Option("--cpus", help="Its CPU set, as the kernel writes it (0, 0-1, 0,2).")] = "0",
    memory: Annotated[str, typer.Option("--memory", help="Its memory limit (512m, 1g, 2GiB).")] = "1g",
    worker: Annotated[bool, typer.Option("--worker/--no-worker",
                                         help="Start the node's worker (it joins POOL and takes jobs); "
                                              "--no-worker starts only its engine.")] = True,
    via: Annotated[str | None, typer.Option(
        "--via", help="Enrol it the Salt way: `cloud` (salt-cloud -p through the farm's node driver) or `saltify` "
                      "(a bare machine with sshd, enrolled by salt-cloud over SSH); the minion-start reactor then "
                      "provisions it and starts its worker. Default: start it and its worker directly.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create node NAME, wait until its engine answers, then start its worker and wait for its heartbeat.

    Builds the node image first when needed. The worker needs the stack's node-gateway (`benchfarm stack up`).
    Adding a node that exists with the same spec changes nothing (its worker is started if it is not running)."""
    if via is not None and via not in VIAS:
        raise typer.BadParameter(f"--via must be one of {', '.join(VIAS)}, not {via!r}")
    if via is not None and not worker:
        raise typer.BadParameter("--no-worker applies to a node added directly, not --via (Salt starts the worker)")
    spec = NodeSpec.parse(name, pool, cpus, memory)
    manager = _manager()
    manager.check(spec)  # a taken name or a CPU set outside this machine fails before any build
    image = _ensure_image()
    started = time.monotonic()
    if via is None:
        node = manager.create(spec, image, progress)
        ready = time.monotonic() - started
        worker_s = _workers().start(name, progress) if worker else None
    else:
        worker_s = _enrolment().add(spec, via, image, progress)
        node = manager.get(name)
        ready = None
    seconds = time.monotonic() - started
    if as_json:
        print_json({**node.to_dict(), "seconds": round(seconds, 2),
                    "ready_seconds": None if ready is None else round(ready, 2), "via": via or "direct",
                    "worker": worker, "worker_seconds": None if worker_s is None else round(worker_s, 2)})
    else:
        joined = f", worker up after {worker_s:.1f} s" if worker_s is not None else " (no worker)"
        how = f"enrolled via {via} in {seconds:.1f} s" if ready is None else f"ready in {ready:.1f} s"
        out.print(f"node {node.name} {how}{joined}: pool {node.pool}, CPUs {node.cpuset}, "
                  f"{format_size(node.memory)}, address {node.address}")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every node on this machine: pool, CPU set, memory, status, address."""
    nodes = _manager().list()
    if as_json:
        print_json([n.to_dict() for n in nodes])
        return
    table = Table("node", "pool", "cpus", "memory", "status", "address", "container")
    for n in nodes:
        table.add_row(n.name, n.pool, n.cpuset, format_size(n.memory), n.status, n.address or "-",
                      n.container_id[:12])
    out.print(table)


@app.command()
def remove(name: str, as_json: JsonOpt = False) -> None:
    """Remove node NAME: `salt-cloud -d NAME` when the farm's master has its minion key, then retire its host in
    the registry, remove its container (its worker and everything running in it), its engine's volume and any
    minion key left.

    Removing a node that does not exist changes nothing."""
    removed = _enrolment().remove(name, progress)
    if as_json:
        print_json({"name": name, "removed": removed})
    else:
        out.print(f"node {name}: {'removed' if removed else 'was not there'}")


@app.command()
def image(
    force: Annotated[bool, typer.Option("--force", help="Rebuild every layer (no cache).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the node image benchfarm-node:<version> (reused as it is when nothing it is made of changed)."""
    ref = _ensure_image(force)
    print_json({"image": ref}) if as_json else out.print(ref)


@app.command()
def network(as_json: JsonOpt = False) -> None:
    """Create (when missing) and show the farm's node network; services for nodes listen on its gateway."""
    net = _manager().ensure_network()
    data = {"name": net.name, "subnet": net.subnet, "gateway": net.gateway, "internal": net.internal}
    print_json(data) if as_json else out.print(f"{net.name}: {net.subnet}, host (gateway) {net.gateway}, "
                                               f"{'internal' if net.internal else 'NOT internal'}")
