"""The fault campaign (issue 12): N short jobs across a node farm while a seeded schedule injects M faults,
then a checker that names every broken promise.

Needs the one-host farm up (`benchfarm stack up`, with its supervisor and node-gateway), the node image (built
by the first `benchfarm nodes add` when missing) and the job image (default: the test suite's busybox,
``benchfarm-test/busybox:latest``). The script adds K nodes with `benchfarm nodes add f12-<run>-n<i> --pool
f12-<run>` (the real CLI), submits the jobs through the API client while a fault thread works through the
seeded schedule, waits for the jobs to end, checks, and removes its nodes and their host records (also when
it fails or is interrupted).

Fault kinds (each waits until what it broke is back before the next fault):

- ``worker-kill``: SIGKILL of a node's ``benchfarm worker run`` (the node's service supervisor starts it again);
- ``node-kill``: ``docker kill`` of a node's container, then `benchfarm nodes add` with its spec again;
- ``partition``: the node's container disconnected from the farm's node network for a few seconds (sometimes
  longer than a lease), then connected again;
- ``dockerd-restart``: SIGKILL of a node's dockerd (the node's supervisor starts it again);
- ``redis-restart`` / ``es-restart``: ``kill -9`` of the stack's redis-server / Elasticsearch server JVM (the
  stack's supervisor, ``benchfarm stack supervise``, starts it again). These disturb everyone on the shared
  stack: the schedule keeps them few (about one in 20 and one in 25 faults) and spread out.

The checker's invariants, each violation named:

- ``not-terminal``: an accepted job is not succeeded, failed or cancelled when the run ends (stuck);
- ``terminal-events``: a job's event stream does not hold exactly one terminal event;
- ``over-time``: the job's last attempt ran longer than its timeout allows (timeout per repetition,
  lease and a grace);
- ``attempts-mixed``: result documents in Elasticsearch of another attempt than the record's last one, or
  not the record's repetitions;
- ``samples``: the samples of the job's last attempt in Elasticsearch differ from what its repetitions say
  they took, or one sample is there twice;
- ``mirror``: the job's document in the jobs index is missing or says another status than Redis; and the
  job counts of the run (per status) differ between Redis and Elasticsearch.

Usage: python bench/faults.py [--jobs 200] [--faults 50] [--seed 12] [--nodes 3] [--image IMAGE] [--json]

Exit status: 0 no violation, 1 at least one violation, 2 the campaign could not run (no farm, no image).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import psutil

from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.errors import ServiceUnavailableError
from benchfarm.nodes.model import NodeSpec
from benchfarm.settings import Settings, get_settings
from benchfarm.stack.stack import Stack
from benchfarm.stack.supervisor import read_state

IMAGE = "benchfarm-test/busybox:latest"
FINAL = {"succeeded", "failed", "cancelled"}
TERMINAL_EVENTS = {"finished", "failed", "cancelled"}
NODE_KINDS = ("worker-kill", "node-kill", "partition", "dockerd-restart")
KINDS = (*NODE_KINDS, "redis-restart", "es-restart")
LABEL = "fault_campaign"
SERVICE_RUN = "/run/benchfarm-node/services"


def _say(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


# ---------------------------------------------------------------------------------------------- the schedule
@dataclass(frozen=True)
class Fault:
    """One planned fault: its kind, the node it hits (an index), and how long a partition lasts."""

    index: int
    kind: str
    node: int
    hold_s: float  # partition: seconds disconnected; node-kill: seconds dead before it is added again


def schedule(faults: int, nodes: int, seed: int) -> list[Fault]:
    """The seeded plan: every kind at least once, Redis and Elasticsearch restarts few and evenly spread."""
    rng = random.Random(seed)
    n_redis = max(1, faults // 20)
    n_es = max(1, faults // 25)
    n_node = max(len(NODE_KINDS), faults - n_redis - n_es)
    kinds = list(NODE_KINDS) + [rng.choice(NODE_KINDS) for _ in range(n_node - len(NODE_KINDS))]
    rng.shuffle(kinds)
    service = ["redis-restart"] * n_redis + ["es-restart"] * n_es
    rng.shuffle(service)
    # the service faults at evenly spaced places, never first (the farm warms up) and never adjacent
    step = (len(kinds) + len(service)) / (len(service) + 1)
    for i, kind in enumerate(service):
        kinds.insert(min(len(kinds), round(step * (i + 1)) + i), kind)
    plan = []
    for i, kind in enumerate(kinds):
        hold = rng.uniform(4, 25) if kind == "partition" else rng.uniform(1, 6)
        plan.append(Fault(index=i, kind=kind, node=rng.randrange(nodes), hold_s=round(hold, 1)))
    return plan


# ---------------------------------------------------------------------------------------------- the campaign
@dataclass
class Submitted:
    job_id: str
    at: float  # epoch seconds


@dataclass
class Run:
    """What the campaign did; read by the progress line and the checker."""

    tag: str
    pool: str
    nodes: list[str]
    submitted: list[Submitted] = field(default_factory=list)
    submit_errors: Counter[str] = field(default_factory=Counter)
    faults_done: list[dict[str, Any]] = field(default_factory=list)
    last_fault_end: float = 0.0
    repairs: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


class Campaign:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.farm = Farm(settings)
        self.api = ApiClient.from_settings(settings)
        self.stack = Stack(settings)
        self.docker = docker.DockerClient(base_url=settings.docker_url)
        self.rng = random.Random(args.seed + 1)  # the jobs' sleeps (the plan has its own generator)
        tag = args.tag or uuid.uuid4().hex[:6]
        self.run = Run(tag=tag, pool=f"f12-{tag}", nodes=[f"f12-{tag}-n{i}" for i in range(args.nodes)])
        self.partitioned: set[str] = set()
        self.ended: set[str] = set()  # jobs seen final (a final job stays final)
        self.plan = schedule(args.faults, args.nodes, args.seed)
        self.cpus = sorted(psutil.Process().cpu_affinity() or [0])

    # nodes ----------------------------------------------------------------------------------------------------
    def _cpus_of(self, i: int) -> str:
        return str(self.cpus[i % len(self.cpus)])

    def add_node(self, i: int) -> float:
        """`benchfarm nodes add` node i (also after it was killed: it starts afresh on its volume); seconds taken."""
        started = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "benchfarm.cli.main", "nodes", "add", self.run.nodes[i],
                              "--pool", self.run.pool, "--cpus", self._cpus_of(i), "--memory", "1g", "--json"],
                             capture_output=True, text=True, timeout=600, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nodes add {self.run.nodes[i]} exited {res.returncode}: {res.stderr[-2000:]}")
        return time.monotonic() - started

    def power_on(self, i: int) -> float:
        """Start killed node i again as it was (the manager's create with the node's own image: its disk, and the
        documents its worker spooled there, are kept), then its worker; seconds taken.

        Not `benchfarm nodes add`: that builds the node image from the working tree first, and a tree changed
        since the node was made gives a new image and a node started afresh, as a replaced machine would be."""
        started = time.monotonic()
        name = self.run.nodes[i]
        facts = self.farm.nodes.engine.container(self._container(name))
        if facts is None or not facts.image_id:
            raise RuntimeError(f"node {name}: its container is gone")
        self.farm.nodes.create(NodeSpec.parse(name, self.run.pool, self._cpus_of(i), "1g"), facts.image_id, _say)
        self.farm.node_workers.start(name, _say)
        return time.monotonic() - started

    def add_nodes(self) -> None:
        errors: list[str] = []

        def one(i: int) -> None:
            try:
                _say(f"node {self.run.nodes[i]} ready in {self.add_node(i):.1f} s")
            except Exception as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(self.run.nodes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("; ".join(errors))

    def cleanup(self) -> None:
        for name in self.run.nodes:
            try:
                if name in self.partitioned:
                    self._connect(name)
                self.farm.nodes.remove(name, _say)
                self.farm.host_registry.remove(name)
            except Exception as exc:  # the other nodes go too
                _say(f"cleanup of {name}: {exc}")
        for s in self.run.submitted:
            with contextlib.suppress(Exception):
                if self.api.job(s.job_id)["status"] not in FINAL:
                    self.api.cancel(s.job_id)
        self.docker.close()
        self.farm.close()

    def _container(self, name: str) -> str:
        return self.farm.nodes.get(name).container_name

    def _exec(self, name: str, script: str) -> str:
        res = self.farm.nodes.exec(name, ["sh", "-c", script], timeout=60)
        if res.exit_code != 0:
            raise RuntimeError(f"{name}: `{script}` exited {res.exit_code}: {res.output.strip()[-300:]}")
        return res.output.strip()

    def _wait(self, what: str, ok: Callable[[], bool], timeout_s: float) -> float:
        started = time.monotonic()
        while True:
            with contextlib.suppress(Exception):
                if ok():
                    return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{what} not back within {timeout_s:.0f} s")
            time.sleep(0.5)

    def _heartbeat_after(self, name: str, at: float, timeout_s: float) -> float:
        return self._wait(f"worker of {name}", lambda: self.farm.host_registry.workers_seen().get(name, 0.0) > at,
                          timeout_s)

    def _connect(self, name: str) -> None:
        net = self.docker.networks.get(self.farm.nodes.config.network)
        with contextlib.suppress(docker.errors.APIError):  # already connected
            net.connect(self._container(name))
        self.partitioned.discard(name)

    # faults ---------------------------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> str:
        """Inject one fault and wait until what it broke is back; returns what happened, in words."""
        name = self.run.nodes[fault.node]
        if fault.kind == "worker-kill":
            pid = self._exec(name, f"cat {SERVICE_RUN}/worker.child")
            self._exec(name, f"kill -KILL {pid}")
            at = time.time()
            took = self._heartbeat_after(name, at + 0.5, 120)
            return f"worker {pid} of {name} killed; heartbeat again after {took:.1f} s"
        if fault.kind == "dockerd-restart":
            pid = self._exec(name, "cat /var/run/docker.pid")
            self._exec(name, f"kill -KILL {pid}")
            took = self._wait(f"dockerd of {name}", lambda: self._exec(name, "cat /var/run/docker.pid") != pid
                              and self.farm.nodes.exec(name, ["docker", "info"], timeout=20).exit_code == 0, 120)
            return f"dockerd {pid} of {name} killed; a new one answers after {took:.1f} s"
        if fault.kind == "node-kill":
            self.docker.containers.get(self._container(name)).kill()
            time.sleep(fault.hold_s)
            took = self.power_on(fault.node)
            return f"node {name} killed, dead {fault.hold_s} s, started again in {took:.1f} s"
        if fault.kind == "partition":
            net = self.docker.networks.get(self.farm.nodes.config.network)
            net.disconnect(self._container(name), force=True)
            self.partitioned.add(name)
            time.sleep(fault.hold_s)
            self._connect(name)
            at = time.time()
            took = self._heartbeat_after(name, at, 120)
            return f"node {name} cut off for {fault.hold_s} s; heartbeat again {took:.1f} s after reconnecting"
        if fault.kind in ("redis-restart", "es-restart"):
            return self._kill_service("redis" if fault.kind == "redis-restart" else "elasticsearch")
        raise ValueError(fault.kind)

    def _kill_service(self, name: str) -> str:
        svc = self.stack.service(name)
        pid = svc.process.pid
        if pid is None:
            raise RuntimeError(f"{name} is not run by the stack: nothing for its supervisor to restart")
        state_file = self.stack.service("supervisor").state_file  # type: ignore[attr-defined]
        before = (read_state(state_file) or read_state_empty()).restarts.get(name, 0)
        proc = psutil.Process(pid)
        victim = next((c for c in proc.children() if "java" in c.name()), proc) if name == "elasticsearch" else proc
        victim.kill()

        def back() -> bool:
            status = svc.status()
            state = read_state(state_file)
            return bool(status.healthy and status.pid not in (None, pid) and state
                        and state.restarts.get(name, 0) > before)

        took = self._wait(name, back, 300 if name == "elasticsearch" else 120)
        # the API answers again too (it reconnects to Redis on its next request)
        self._wait("the API", lambda: bool(self.api.hosts()), 60)
        return f"{name} (pid {victim.pid}) killed; the supervisor had it back after {took:.1f} s"

    def fault_loop(self) -> None:
        n_jobs, n_faults = self.args.jobs, len(self.plan)
        for fault in self.plan:
            # spread the faults over the jobs: fault k waits until about k/M of the jobs were submitted
            while len(self.run.submitted) < min(n_jobs, int(fault.index * n_jobs / n_faults) + 1):
                if self.run.stop.wait(0.5):
                    return
            time.sleep(self.rng.uniform(0, self.args.gap))
            self.ensure_nodes()
            started = time.time()
            record: dict[str, Any] = {"index": fault.index, "kind": fault.kind, "node": self.run.nodes[fault.node],
                                      "at": started}
            try:
                record["what"] = self.inject(fault)
            except Exception as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                _say(f"fault {fault.index} ({fault.kind}) did not recover: {record['error']}")
                self._repair(fault)
            record["seconds"] = round(time.time() - started, 1)
            self.run.faults_done.append(record)
            self.run.last_fault_end = time.time()
            _say(f"fault {fault.index + 1}/{n_faults} {fault.kind}: {record.get('what', record.get('error'))}")
            if self.run.stop.is_set():
                return

    def ensure_nodes(self) -> None:
        """Bring back a node that is down or whose worker is silent although no fault of ours is in progress
        (a fault that did not heal, or something outside the campaign, like the host's dockerd restarting and
        taking every node with it); each repair is counted and named in the figures."""
        try:
            seen = self.farm.host_registry.workers_seen()
            found = {name: self.farm.nodes.find(name) for name in self.run.nodes}
        except Exception as exc:  # Redis or the host's engine away: look again before the next fault
            _say(f"cannot look at the nodes now: {exc}")
            return
        for i, name in enumerate(self.run.nodes):
            node = found[name]
            try:
                if node is not None and node.running and time.time() - seen.get(name, 0.0) < 60:
                    continue
                if node is not None and node.running:
                    why = "its worker sent no heartbeat for 60 s"
                    self.farm.node_workers.start(name, _say)
                elif node is not None:
                    why = f"it was {node.status}"
                    self.power_on(i)
                else:
                    why = "it was gone"
                    self.add_node(i)
                line = f"{name}: {why}; brought back"
            except Exception as exc:
                line = f"{name}: could not be brought back: {type(exc).__name__}: {exc}"
            self.run.repairs.append(line)
            _say(f"repair: {line}")

    def _repair(self, fault: Fault) -> None:
        """After a fault that did not heal: bring its node back the operator's way so the campaign goes on."""
        if fault.kind not in NODE_KINDS:
            return
        name = self.run.nodes[fault.node]
        with contextlib.suppress(Exception):
            self._connect(name)
        try:
            node = self.farm.nodes.find(name)
            if node is not None and node.running:
                self.farm.node_workers.start(name, _say)
            elif node is not None:
                self.power_on(fault.node)
            else:
                self.add_node(fault.node)
        except Exception as exc:
            _say(f"repairing {name} failed: {exc}")

    # jobs -----------------------------------------------------------------------------------------------------
    def spec(self, i: int) -> dict[str, Any]:
        sleep = self.rng.choice([1, 2, 3])
        return {"name": f"f12-fault-campaign-{i}", "image": self.args.image,
                "command": ["sh", "-c", f"sleep {sleep}; echo '{{\"value\": {i}}}'"],
                "warmup": 0, "repetitions": 1, "timeout_s": 60, "requirements": {"pool": self.run.pool},
                "labels": {LABEL: self.run.tag},
                "results": {"format": "json-lines", "metrics": {"value": {"unit": "count", "direction": "higher"}}}}

    def open_jobs(self) -> int:
        """How many submitted jobs have not ended (read from Redis; raises while it is away)."""
        ids = [s.job_id for s in self.run.submitted if s.job_id not in self.ended]
        repo = self.farm.repository
        for job_id, raw in zip(ids, repo.kv.mget([f"{repo.PREFIX}:job:{i}" for i in ids]), strict=True):
            if raw is not None and json.loads(raw)["status"] in FINAL:
                self.ended.add(job_id)
        return len(ids) - sum(1 for i in ids if i in self.ended)

    def submit_loop(self) -> None:
        window = self.args.window or 2 * len(self.run.nodes) + 2
        n_faults = max(1, len(self.plan))
        for i in range(self.args.jobs):
            spec = self.spec(i)
            while True:
                if self.run.stop.is_set():
                    return
                # at most `window` jobs open, and the jobs do not run ahead of the faults
                ahead = int(i * n_faults / self.args.jobs) - 2 > len(self.run.faults_done)
                with contextlib.suppress(Exception):
                    if not ahead and self.open_jobs() < window:
                        break
                time.sleep(0.5)
            while not self.run.stop.is_set():
                try:
                    job_id = self.api.submit(spec)["id"]
                    self.run.submitted.append(Submitted(job_id, time.time()))
                    break
                except Exception as exc:  # Redis restarting: 503; accepted only on an answer with an id
                    self.run.submit_errors[type(exc).__name__] += 1
                    time.sleep(1)

    def progress_line(self, started: float) -> str:
        try:
            open_ = self.open_jobs()
        except Exception:
            open_ = -1
        kinds = Counter(f["kind"] for f in self.run.faults_done)
        return (f"{time.monotonic() - started:5.0f} s: jobs submitted {len(self.run.submitted)}/{self.args.jobs}, "
                f"open {open_}; faults {len(self.run.faults_done)}/{len(self.plan)} "
                f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items())) or 'none yet'})")

    def drive(self) -> float:
        """Submit the jobs while the faults go; returns when both are done and every job ended or the drain
        time passed. Returns the wall seconds."""
        started = time.monotonic()
        threads = [threading.Thread(target=self._guard(self.submit_loop), name="submit"),
                   threading.Thread(target=self._guard(self.fault_loop), name="faults")]
        for t in threads:
            t.start()
        last = 0.0
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last >= self.args.progress_s:
                _say(self.progress_line(started))
                last = time.monotonic()
        if self.run.error:
            raise RuntimeError(self.run.error)
        deadline = time.monotonic() + self.args.drain_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if self.open_jobs() == 0:
                    break
            if time.monotonic() - last >= self.args.progress_s:
                _say("draining: " + self.progress_line(started))
                self.ensure_nodes()
                last = time.monotonic()
            time.sleep(1)
        return time.monotonic() - started

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                self.run.error = f"{fn.__name__}: {type(exc).__name__}: {exc}"
                self.run.stop.set()
        return run


def read_state_empty() -> Any:
    from benchfarm.stack.supervisor import SupervisorState

    return SupervisorState()


# ---------------------------------------------------------------------------------------------- the checker
@dataclass
class Violation:
    name: str
    job_id: str | None
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.job_id or '-'}: {self.detail}"


class Checker:
    """Reads every job of the run from Redis (through the API and the repository) and from Elasticsearch."""

    def __init__(self, farm: Farm, api: ApiClient, tag: str, job_ids: list[str], lease_s: float) -> None:
        self.farm = farm
        self.api = api
        self.tag = tag
        self.job_ids = job_ids
        self.lease_s = lease_s
        self.store = farm.store_repository
        self.names = self.store.names

    def check(self) -> tuple[list[Violation], dict[str, Any]]:
        violations: list[Violation] = []
        jobs: dict[str, dict[str, Any]] = {}
        for job_id in self.job_ids:
            jobs[job_id] = job = _patiently(self.api.job, job_id)
            violations += self._one(job)
        violations += self._counts(jobs)
        statuses = Counter(j["status"] for j in jobs.values())
        figures = {"jobs": len(jobs), "by_status": dict(sorted(statuses.items())),
                   "attempts": dict(sorted(Counter(str(j["attempts"]) for j in jobs.values()).items())),
                   "failed_reasons": dict(Counter(_reason_kind(j["reason"]) for j in jobs.values()
                                                  if j["status"] == "failed"))}
        return violations, figures

    def _one(self, job: dict[str, Any]) -> list[Violation]:
        out: list[Violation] = []
        jid = job["id"]
        if job["status"] not in FINAL:
            return [Violation("not-terminal", jid, f"still {job['status']} (attempt {job['attempts']})")]
        events = _patiently(self.api.events, jid)
        terminal = [e["type"] for e in events if e["type"] in TERMINAL_EVENTS]
        if len(terminal) != 1:
            out.append(Violation("terminal-events", jid, f"terminal events {terminal}, record {job['status']}"))
        spec = job["spec"]
        allowed = spec["timeout_s"] * (spec.get("warmup", 0) + spec["repetitions"]) + self.lease_s + 120
        started, finished = _ts(job.get("started_at")), _ts(job.get("finished_at"))
        if started and finished and finished - started > allowed:
            out.append(Violation("over-time", jid, f"last attempt ran {finished - started:.0f} s > {allowed:.0f} s"))
        results = self.store.results_for(jid)
        attempts = {d.get("attempt") for d in results}
        reps = sorted(d["repetition"] for d in results if d["doc_type"] == "repetition")
        want = sorted(r["index"] for r in job["repetitions"])
        if attempts - {job["attempts"]} or reps != want:
            out.append(Violation("attempts-mixed", jid, f"record: attempt {job['attempts']}, repetitions {want}; "
                                                        f"store: attempts {sorted(map(str, attempts))}, "
                                                        f"repetitions {reps}"))
        samples = self.store.samples_for(jid)
        keys = Counter((s.get("attempt"), s["repetition"], s["collector"], s["host_id"], s["@timestamp"])
                       for s in samples)
        twice = [k for k, n in keys.items() if n > 1]
        if twice:
            out.append(Violation("samples", jid, f"{len(twice)} samples stored more than once, e.g. {twice[0]}"))
        # per repetition the record holds (a repetition that broke off with its engine is not recorded, and
        # how many samples it took is not known: its samples are only checked for duplicates above)
        stored = Counter(s["repetition"] for s in samples if s.get("attempt") == job["attempts"])
        taken = {r["index"]: r.get("samples_taken") for r in job["repetitions"]}
        wrong = {i: (n, stored.get(i, 0)) for i, n in taken.items() if n is not None and n != stored.get(i, 0)}
        if wrong:
            out.append(Violation("samples", jid, f"attempt {job['attempts']}: repetition -> (taken, stored) "
                                                 f"{wrong}"))
        doc = self.store.get_job(jid)
        if doc is None:
            out.append(Violation("mirror", jid, f"no document in the jobs index (Redis: {job['status']})"))
        elif doc.get("status") != job["status"] or doc.get("attempts") != job["attempts"]:
            out.append(Violation("mirror", jid, f"jobs index says {doc.get('status')} after {doc.get('attempts')} "
                                                f"attempts, Redis {job['status']} after {job['attempts']}"))
        return out

    def _counts(self, jobs: dict[str, dict[str, Any]]) -> list[Violation]:
        """Ended jobs per status in Redis and in the jobs index (a job is mirrored when it ends; one that did
        not end is a violation of its own)."""
        in_redis = Counter(j["status"] for j in jobs.values() if j["status"] in FINAL)
        res = self.farm.es.search(self.names["jobs"], {
            "size": 0, "query": {"term": {f"labels.{LABEL}": self.tag}},
            "aggs": {"status": {"terms": {"field": "status", "size": 10}}}})
        in_es = Counter({b["key"]: b["doc_count"] for b in res["aggregations"]["status"]["buckets"]})
        if in_redis != in_es:
            return [Violation("mirror", None, f"job counts differ: Redis {dict(in_redis)}, "
                                              f"Elasticsearch {dict(in_es)}")]
        return []

    def settle(self, timeout_s: float) -> tuple[list[Violation], dict[str, Any]]:
        """Check until nothing is wrong or ``timeout_s`` passed: samples a node spooled while Elasticsearch was
        away reach it at the node's next housekeeping pass (every 10 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.store.refresh()
            violations, figures = self.check()
            if not violations or time.monotonic() > deadline:
                return violations, figures
            _say(f"{len(violations)} violation(s) so far ({', '.join(sorted({v.name for v in violations}))}); "
                 "checking again in 10 s")
            time.sleep(10)


def _patiently(call: Callable[[str], Any], arg: str, timeout_s: float = 120.0) -> Any:
    """``call(arg)``, tried again while the API is away (a Redis restart, or another user of the shared stack
    restarting it) for up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call(arg)
        except ServiceUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _reason_kind(reason: str | None) -> str:
    """A failure reason without its ids and numbers (its words before the first colon), to count them by kind."""
    words = (reason or "").split(":")[0].split()
    kept = [w for w in words if not any(c.isdigit() for c in w) and not w.startswith(("job-", "bf-job-"))]
    return " ".join(kept)[:60] or "-"


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--faults", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--image", default=IMAGE, help="the job image (a local image; the API pushes it)")
    parser.add_argument("--gap", type=float, default=4.0, help="most seconds of random pause before a fault")
    parser.add_argument("--window", type=int, default=0, help="most jobs open at once (default 2 per node + 2)")
    parser.add_argument("--drain-s", type=float, default=400.0, help="how long jobs may take to end after all")
    parser.add_argument("--settle-s", type=float, default=90.0, help="how long the checks may take to agree")
    parser.add_argument("--progress-s", type=float, default=15.0)
    parser.add_argument("--tag", default="", help="names the run: nodes f12-TAG-n<i>, pool f12-TAG (default: random)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args(argv)
    if args.nodes < 2 or args.jobs < 1 or args.faults < len(KINDS):
        parser.error(f"need --nodes >= 2 (a killed node's job runs on another), --jobs >= 1, "
                     f"--faults >= {len(KINDS)} (one of each kind)")
    settings = get_settings()
    try:
        campaign = Campaign(settings, args)
        campaign.docker.images.get(args.image)
    except Exception as exc:
        _say(f"cannot start: {exc}")
        return 2
    run = campaign.run
    began = datetime.now().astimezone().isoformat(timespec="seconds")
    _say(f"run {run.tag}: {args.jobs} jobs, {args.faults} faults (seed {args.seed}), nodes {', '.join(run.nodes)} "
         f"in pool {run.pool}; plan: {dict(Counter(f.kind for f in campaign.plan))}")
    figures: dict[str, Any] = {}
    violations: list[Violation] = []
    try:
        t0 = time.monotonic()
        campaign.add_nodes()
        wall = campaign.drive()
        _say(f"jobs and faults done in {wall:.0f} s; checking")
        checker = Checker(campaign.farm, campaign.api, run.tag, [s.job_id for s in run.submitted],
                          settings.worker_lease_s)
        violations, figures = checker.settle(args.settle_s)
        figures["wall_s"] = round(time.monotonic() - t0, 1)
    except Exception as exc:
        violations.append(Violation("campaign", None, f"{type(exc).__name__}: {exc}"))
    finally:
        campaign.run.stop.set()
        campaign.cleanup()
    kinds = Counter(f["kind"] for f in run.faults_done)
    figures.update({
        "command": "python bench/faults.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": began, "run": run.tag, "seed": args.seed, "nodes": len(run.nodes),
        "jobs_submitted": len(run.submitted), "submit_retries": dict(run.submit_errors),
        "faults": len(run.faults_done), "faults_by_kind": dict(sorted(kinds.items())),
        "faults_not_recovered": [f"{f['kind']} on {f['node']}: {f['error']}" for f in run.faults_done
                                 if "error" in f],
        "node_repairs": run.repairs,
        "violations": len(violations), "violations_by_name": dict(Counter(v.name for v in violations)),
    })
    for f in run.faults_done:
        if "error" in f:
            violations.append(Violation("not-recovered", None, f"{f['kind']} on {f['node']}: {f['error']}"))
    figures["violations"] = len(violations)
    figures["violations_by_name"] = dict(Counter(v.name for v in violations))
    print(f"jobs: {figures.get('jobs', len(run.submitted))} {figures.get('by_status', '')}", file=sys.stderr)
    print(f"faults: {len(run.faults_done)} {dict(sorted(kinds.items()))}", file=sys.stderr)
    print(f"violations: {len(violations)}", file=sys.stderr)
    for v in violations[:200]:
        print(f"  {v}", file=sys.stderr)
    if args.json:
        figures["violation_list"] = [str(v) for v in violations]
        print(json.dumps(figures, indent=1))
    else:
        print(json.dumps({k: v for k, v in figures.items() if k != "violation_list"}, indent=1))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
