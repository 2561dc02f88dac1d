"""Foundation: `stack up` is idempotent, `down` stops only what it started, data survives a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
from elasticsearch import Elasticsearch

from benchfarm.adapters.redis_store import RedisClient
from benchfarm.settings import Settings
from benchfarm.stack.services.redis_server import RedisService

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchfarm.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


def _isolated_settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache", **overrides)


def test_status_json_shows_every_service_healthy(farm):
    res = _cli("stack", "status", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    for name in ("docker", "redis", "elasticsearch", "salt-master", "salt-minion"):
        assert rows[name]["healthy"] is True, rows[name]
        assert rows[name]["pid"], rows[name]


def test_up_twice_starts_nothing_new(farm):
    before = {s.name: s.pid for s in farm.status()}
    res = _cli("stack", "up")
    assert res.returncode == 0, res.stderr
    assert "starting" not in res.stderr
    after = {s.name: s.pid for s in farm.status()}
    assert before == after


def test_a_taken_port_gives_a_clear_error(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        res = _cli("stack", "up", "--only", "redis",
                   env={"BENCHFARM_STATE_DIR": str(tmp_path / "state"), "BENCHFARM_REDIS_PORT": str(port)})
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert f"port {port} on 127.0.0.1 is already taken by" in res.stderr
    assert f"(pid {os.getpid()})" in res.stderr  # names the process holding it: this one
    assert "BENCHFARM_" in res.stderr  # and says how to choose another port
    assert "Traceback" not in res.stderr


def test_down_stops_what_it_started_and_nothing_remains(tmp_path):
    settings = _isolated_settings(tmp_path, redis_port=_free_port())
    svc = RedisService(settings)
    assert svc.up(lambda m: None) == "started"
    pid = svc.process.pid
    assert pid is not None and psutil.pid_exists(pid)
    assert svc.up(lambda m: None) == "already running"
    assert svc.process.pid == pid
    assert svc.down() is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert svc.status().healthy is False
    assert svc.down() is False  # nothing left to stop


def test_down_leaves_a_service_it_did_not_start_alone(tmp_path):
    port = _free_port()
    foreign = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        settings = _isolated_settings(tmp_path, redis_port=port)
        svc = RedisService(settings)
        client = RedisClient(f"redis://127.0.0.1:{port}/0")
        deadline = __import__("time").monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:
                assert __import__("time").monotonic() < deadline
        assert "not started by benchfarm" in svc.up(lambda m: None)
        assert svc.status().managed_by == "external"
        assert svc.down() is False
        assert foreign.poll() is None  # still running
    finally:
        foreign.terminate()
        foreign.wait(10)


def test_down_then_up_keeps_elasticsearch_documents_and_redis_keys(farm, settings):
    key = f"benchfarm:test:persist:{uuid.uuid4()}"
    index = f"benchfarm-test-persist-{uuid.uuid4().hex[:8]}"
    RedisClient.from_settings(settings).set(key, "kept")
    es = Elasticsearch(settings.effective_elasticsearch_url)
    es.index(index=index, id="doc-1", document={"kept": True}, refresh="wait_for")
    es.close()
    try:
        res = _cli("stack", "down", "--only", "redis", "--only", "elasticsearch")
        assert res.returncode == 0, res.stderr
        assert not any(s.healthy for s in farm.status() if s.name in ("redis", "elasticsearch"))
        res = _cli("stack", "up")
        assert res.returncode == 0, res.stderr
        assert RedisClient.from_settings(settings).get(key) == "kept"
        es = Elasticsearch(settings.effective_elasticsearch_url)
        assert es.get(index=index, id="doc-1")["_source"] == {"kept": True}
    finally:
        RedisClient.from_settings(settings).delete(key)
        es = Elasticsearch(settings.effective_elasticsearch_url)
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()

