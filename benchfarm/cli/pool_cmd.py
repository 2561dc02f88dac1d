"""`benchfarm pool`: pools of hosts (list, create, show, edit, add a host, drain, remove).

A pool created with any of the elastic options (``--max-hosts``, ``--profile``, ...) is *elastic*: the
autoscaler creates its hosts through salt-cloud when queued jobs need them and destroys them when idle
(``benchfarm.elastic``). Exit codes: 2 for an invalid definition or name, 4 when Redis is down.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from benchfarm.cli.console import out, print_json
from benchfarm.cli.farm import audit, farm
from benchfarm.elastic.definition import ReplacePolicy
from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.inventory.pools import PoolStore

app = typer.Typer(help="Pools of hosts: list, create, show, edit, add, drain, remove.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", help="The salt-cloud profile hosts are created from (default: the node provider's "
                      "benchfarm-node-<pool>, made from --cpus and --memory).")]
CpusOpt = Annotated[str | None, typer.Option("--cpus", help="Node provider: each host's CPU set (0, 0-1).")]
MemoryOpt = Annotated[str | None, typer.Option("--memory", help="Node provider: each host's memory (1g).")]
MinOpt = Annotated[int | None, typer.Option("--min-hosts", help="Hosts kept even when idle.")]
MaxOpt = Annotated[int | None, typer.Option("--max-hosts", help="The most hosts the pool may have.")]
IdleOpt = Annotated[float | None, typer.Option("--idle-timeout", help="Seconds an idle host above min stays.")]
PriceOpt = Annotated[float | None, typer.Option("--price", help="Price per host-hour.")]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help="Daily budget (UTC day); no new host past it.")]
ShareOpt = Annotated[list[str] | None, typer.Option(
    "--share", help="TEAM=FRACTION: the team is served first, at dispatch, up to this fraction of the pool's hosts "
                    "(repeat per team; on edit the list replaces the pool's shares; TEAM=0 drops one). A team may "
                    "borrow what others leave idle; a running job is never preempted.")]
ReplaceOpt = Annotated[ReplacePolicy | None, typer.Option(
    "--replace", help="A host that fails its health check (or drifts): replaced, or quarantined (never).")]


def _pools() -> PoolStore:
    return farm().pools


def _shares(given: list[str] | None) -> dict[str, float] | None:
    """``["a=0.5", "b=0.5"]`` -> ``{"a": 0.5, "b": 0.5}`` (a 0 leaves the team out). Raises UserInputError."""
    if given is None:
        return None
    out: dict[str, float] = {}
    for item in given:
        team, sep, fraction = item.partition("=")
        try:
            value = float(fraction)
        except ValueError:
            value = -1.0
        if not sep or not team or value < 0:
            raise UserInputError(f"--share {item!r} is not TEAM=FRACTION", hint="e.g. --share team-a=0.5")
        if value > 0:
            out[team] = value
    return out


def _elastic_fields(profile: str | None, cpus: str | None, memory: str | None, min_hosts: int | None,
                    max_hosts: int | None, idle_timeout: float | None, price: float | None, budget: float | None,
                    replace: ReplacePolicy | None, share: list[str] | None = None) -> dict[str, Any]:
    given = {"profile": profile, "cpus": cpus, "memory": memory, "min_hosts": min_hosts, "max_hosts": max_hosts,
             "idle_timeout_s": idle_timeout, "price_per_host_hour": price, "daily_budget": budget,
             "replace": replace, "shares": _shares(share)}
    return {k: v for k, v in given.items() if v is not None}


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Pools with their hosts; elastic pools with their definition and what the autoscaler does next."""
    f = farm()
    rows = f.pools.list()
    definitions = f.elastic_pools.definitions()
    plans = f.pool_plans() if definitions else {}
    for r in rows:
        d = definitions.get(r["name"])
        r["elastic"] = None if d is None else d.model_dump(mode="json")
        r["next"] = plans[r["name"]].next_step() if r["name"] in plans else None
    if as_json:
        print_json(rows)
        return
    table = Table("pool", "draining", "hosts", "elastic", "next", "description")
    for r in rows:
        d = definitions.get(r["name"])
        table.add_row(r["name"], "yes" if r["draining"] else "no", ", ".join(r["hosts"]) or "-",
                      f"{d.min_hosts}-{d.max_hosts}" if d else "-", r["next"] or "-", r["description"])
    out.print(table)


@app.command()
def create(name: str, description: Annotated[str, typer.Option(help="What the pool is for.")] = "",
           profile: ProfileOpt = None, cpus: CpusOpt = None, memory: MemoryOpt = None, min_hosts: MinOpt = None,
           max_hosts: MaxOpt = None, idle_timeout: IdleOpt = None, price: PriceOpt = None,
           budget: BudgetOpt = None, replace: ReplaceOpt = None, share: ShareOpt = None,
           as_json: JsonOpt = False) -> None:
    """Declare a pool; with any elastic option, an elastic pool the autoscaler grows and shrinks."""
    f = farm()
    fields = _elastic_fields(profile, cpus, memory, min_hosts, max_hosts, idle_timeout, price, budget, replace,
                             share)
    definition = f.elastic_pools.create({"name": name, "description": description, **fields}) if fields else None
    existing = {p["name"] for p in f.pools.list()}
    if name not in existing:
        f.pools.create(name, description)
    if definition is not None:
        audit("pools.create", name, definition.summary())
    if as_json:
        print_json({"name": name, "elastic": None if definition is None else definition.model_dump(mode="json")})
    else:
        out.print(f"pool {name} created" + (f": {definition.summary()}" if definition else ""))


@app.command()
def edit(name: str, description: Annotated[str | None, typer.Option(help="What the pool is for.")] = None,
         profile: ProfileOpt = None, cpus: CpusOpt = None, memory: MemoryOpt = None, min_hosts: MinOpt = None,
         max_hosts: MaxOpt = None, idle_timeout: IdleOpt = None, price: PriceOpt = None,
         budget: BudgetOpt = None, replace: ReplaceOpt = None, share: ShareOpt = None,
         as_json: JsonOpt = False) -> None:
    """Change an elastic pool's definition (the next autoscaler pass acts on it)."""
    fields = _elastic_fields(profile, cpus, memory, min_hosts, max_hosts, idle_timeout, price, budget, replace,
                             share)
    if description is not None:
        fields["description"] = description
    if not fields:
        raise typer.BadParameter("give at least one field to change (see --help)")
    definition = farm().elastic_pools.edit(name, fields)
    audit("pools.edit", name, definition.summary())
    print_json(definition.model_dump(mode="json")) if as_json else out.print(f"pool {name}: {definition.summary()}")


@app.command()
def show(name: str, as_json: JsonOpt = False) -> None:
    """A pool: its definition, hosts (with the autoscaler's view of each), spend today, and what happens next."""
    f = farm()
    pool = next((p for p in f.pools.list() if p["name"] == name), None)
    definition = f.elastic_pools.find(name)
    if pool is None and definition is None:
        raise NotFoundError(f"no pool {name!r}", hint="list pools with `benchfarm pool list`")
    plan = f.pool_plans().get(name)
    entries = {k: v for k, v in f.elastic_pools.entries().items() if v.pool == name}
    data = {"name": name, "hosts": (pool or {}).get("hosts", []),
            "elastic": None if definition is None else definition.model_dump(mode="json"),
            "autoscaled_hosts": {k: {"state": v.state, "since": v.since, "reason": v.reason, "error": v.error}
                                 for k, v in sorted(entries.items())},
            "next": None if plan is None else plan.next_step(),
            "wait_reason": None if plan is None or not plan.pending else plan.wait_reason(),
            "spent_today": None if plan is None else round(plan.spent_today, 4),
            "queued_jobs": None if plan is None else plan.pending}
    shares = f.share_gate.state(name) if definition is not None and definition.shares else None
    if shares is not None:
        data["shares"] = {team: {"share": fraction, "entitled_hosts": round(shares.entitled(team), 3),
                                 "running": shares.running.get(team, 0), "waiting": shares.waiting.get(team, 0)}
                          for team, fraction in sorted({**dict.fromkeys(shares.running, 0.0),
                                                        **dict.fromkeys(shares.waiting, 0.0),
                                                        **shares.shares}.items())}
    if as_json:
        print_json(data)
        return
    out.print(f"pool {name}: " + (definition.summary() if definition else "fixed (not elastic)"))
    out.print(f"hosts: {', '.join(data['hosts']) or '-'}")
    for host, e in data["autoscaled_hosts"].items():
        out.print(f"  {host}: {e['state']} ({e['reason']}){' error: ' + e['error'] if e['error'] else ''}")
    if plan is not None:
        out.print(f"queued jobs: {plan.pending}; spent today: {plan.spent_today:.4f}")
        if data["wait_reason"]:
            out.print(f"jobs wait: {data['wait_reason']}")
        out.print(f"next: {data['next']}")
    for team, t in (data.get("shares") or {}).items():
        out.print(f"  team {team}: share {t['share']:g} ({t['entitled_hosts']:g} host(s)), {t['running']} running, "
                  f"{t['waiting']} waiting")


@app.command()
def add(name: str, host: str) -> None:
    """Move a registered host into pool NAME."""
    _pools().add(name, host)
    out.print(f"{host} is in pool {name}")


@app.command()
def drain(name: str, as_json: JsonOpt = False) -> None:
    """Stop new jobs landing in the pool (its hosts go to maintenance; running jobs finish)."""
    ret = _pools().drain(name)
    audit("pools.drain", name, "hosts: " + ", ".join(ret["hosts"]))
    print_json(ret) if as_json else out.print(f"pool {name} draining: {', '.join(ret['hosts']) or 'no hosts'}")


@app.command()
def remove(name: str) -> None:
    """Delete an empty pool (and its elastic definition)."""
    f = farm()
    if name in {p["name"] for p in f.pools.list()}:
        f.pools.remove(name)
    elif f.elastic_pools.find(name) is None:
        raise NotFoundError(f"no pool {name!r}", hint="list pools with `benchfarm pool list`")
    f.elastic_pools.delete(name)
    out.print(f"pool {name} removed")
