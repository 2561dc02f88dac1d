"""Every service the stack starts asks for credentials, and the secrets stay out of sight."""

from __future__ import annotations

import stat
import subprocess
import uuid

import httpx
import pytest
import redis

from benchfarm.settings import with_credentials

pytestmark = pytest.mark.integration


def _redis_url(settings) -> str:
    return f"redis://{settings.redis_host}:{settings.redis_port}/0"


def test_redis_refuses_a_client_without_credentials(farm, settings):
    client = redis.Redis.from_url(_redis_url(settings), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        client.set(f"benchfarm:test:{uuid.uuid4()}", "x")
    wrong = redis.Redis.from_url(with_credentials(_redis_url(settings), ("benchfarm-api", "not-the-password")))
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    default = redis.Redis.from_url(with_credentials(_redis_url(settings), ("default", "")))
    with pytest.raises(redis.RedisError):
        default.ping()


def test_redis_reader_reads_and_cannot_write_and_the_api_user_can(farm, settings):
    key = f"benchfarm:test:{uuid.uuid4()}"
    api = redis.Redis.from_url(settings.effective_redis_url, decode_responses=True)
    reader = redis.Redis.from_url(settings.redis_url_for("benchfarm-reader"), decode_responses=True)
    api.set(key, "v")
    try:
        assert reader.get(key) == "v"
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.set(key, "w")
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.delete(key)
        with pytest.raises(redis.exceptions.NoPermissionError):  # outside the farm's keys
            api.set(f"elsewhere:{uuid.uuid4()}", "x")
    finally:
        api.delete(key)


def test_the_worker_user_works_on_the_queues(farm, settings):
    worker = redis.Redis.from_url(settings.redis_url_for("benchfarm-worker"), decode_responses=True)
    queue = f"pool.test-{uuid.uuid4().hex[:8]}"
    worker.lpush(queue, "m")
    assert worker.rpop(queue) == "m"


def _es(settings) -> str:
    return f"http://{settings.elasticsearch_host}:{settings.elasticsearch_port}"


def test_elasticsearch_answers_401_without_credentials_and_the_reader_cannot_write(farm, settings):
    assert httpx.get(f"{_es(settings)}/_cluster/health", timeout=10).status_code == 401
    assert httpx.get(f"{_es(settings)}/_cluster/health", timeout=10,
                     auth=("benchfarm-writer", "not-the-password")).status_code == 401
    writer, reader = settings.elasticsearch_credentials("benchfarm-writer"), \
        settings.elasticsearch_credentials("benchfarm-reader")
    assert writer and reader
    index = f"{settings.index_prefix}-test-creds-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=_es(settings), timeout=30) as http:
        put = http.put(f"/{index}/_doc/1?refresh=true", json={"a": 1}, auth=writer)
        assert put.status_code in (200, 201), put.text
        try:
            got = http.get(f"/{index}/_doc/1", auth=reader)
            assert got.status_code == 200 and got.json()["_source"] == {"a": 1}
            assert http.put(f"/{index}/_doc/2", json={"a": 2}, auth=reader).status_code == 403
            assert http.delete(f"/{index}", auth=reader).status_code == 403
            assert http.get("/_security/user", auth=writer).status_code == 403  # no security admin
        finally:
            http.delete(f"/{index}", auth=writer)


def test_secrets_are_root_only(farm, settings):
    d = settings.secrets_dir
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = list(d.iterdir())
    assert {"redis-benchfarm-api", "redis-benchfarm-worker", "redis-benchfarm-reader", "elasticsearch-elastic",
            "elasticsearch-benchfarm-writer", "elasticsearch-benchfarm-reader"} <= {f.name for f in files}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert f.stat().st_uid == 0
    assert "#" in (d / "redis-users.acl").read_text() and \
        settings.secret("redis-benchfarm-api") not in (d / "redis-users.acl").read_text()


def test_no_password_in_process_lists_or_logs(farm, settings):
    passwords = [settings.secret(f) for f in ("redis-benchfarm-api", "redis-benchfarm-worker",
                                               "redis-benchfarm-reader", "elasticsearch-elastic",
                                               "elasticsearch-benchfarm-writer", "elasticsearch-benchfarm-reader")]
    assert all(passwords)
    args = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    for p in passwords:
        assert p not in args
    for log in settings.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        for p in passwords:
            assert p not in text, log
