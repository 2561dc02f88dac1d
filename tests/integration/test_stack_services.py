"""Foundation: each real service of the one-host farm answers and does its job."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from elasticsearch import Elasticsearch

from benchfarm.adapters.redis_store import RedisClient
from benchfarm.adapters.salt_master import SaltMaster
from benchfarm.stack.salt_config import master_config_dir

pytestmark = pytest.mark.integration


def test_container_runs_and_its_exit_code_and_output_are_read(docker_client, busybox_image, containers):
    c = docker_client.containers.create(busybox_image, ["sh", "-c", "echo hello-from-benchfarm; exit 7"],
                                        network_mode="none")
    containers.append(c)
    c.start()
    result = c.wait(timeout=60)
    assert result["StatusCode"] == 7
    assert c.logs().decode().strip() == "hello-from-benchfarm"


def test_redis_round_trip(farm, settings):
    client = RedisClient.from_settings(settings)
    key = f"benchfarm:test:{uuid.uuid4()}"
    client.set(key, "value-1")
    try:
        assert client.get(key) == "value-1"
    finally:
        client.delete(key)
    assert client.get(key) is None


def test_elasticsearch_index_and_search_round_trip(farm, settings):
    es = Elasticsearch(settings.effective_elasticsearch_url)
    index = f"benchfarm-test-{uuid.uuid4().hex[:8]}"
    try:
        es.index(index=index, id="1", document={"name": "sysbench", "value": 42.5}, refresh="wait_for")
        es.index(index=index, id="2", document={"name": "fio", "value": 7.0}, refresh="wait_for")
        hits = es.search(index=index, query={"match": {"name": "sysbench"}})["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["1"]
        assert hits[0]["_source"]["value"] == 42.5
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()


def test_salt_minion_answers_test_ping(farm, settings):
    master = SaltMaster(master_config_dir(settings))
    assert settings.minion_id in master.accepted_minions()
    assert master.ping(settings.minion_id, timeout=15) is True


def _docker_payload(ev: dict) -> dict:
    """The Docker event inside a Salt event fired by the minion's docker_events engine."""
    return ev.get("data", {}).get("data", {})


def test_docker_event_from_a_real_container_reaches_the_salt_bus(farm, settings, docker_client, busybox_image,
                                                                  containers):
    master = SaltMaster(master_config_dir(settings))
    seen: list[dict] = []
    name = f"bf-test-events-{uuid.uuid4().hex[:8]}"
    marker = f"benchfarm/test/marker/{uuid.uuid4().hex}"

    def listen() -> None:
        for ev in master.events("", timeout=30):
            seen.append(ev)
            p = _docker_payload(ev)
            if p.get("Actor", {}).get("Attributes", {}).get("name") == name and p.get("Action") == "die":
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    # the subscription is live once the listener sees a marker we fire
    deadline = time.monotonic() + 20
    while not any(ev["tag"] == marker for ev in seen) and time.monotonic() < deadline:
        master.fire(marker, {"ping": True})
        time.sleep(0.2)
    assert any(ev["tag"] == marker for ev in seen), "could not subscribe to the master event bus"

    c = docker_client.containers.run(busybox_image, ["true"], name=name, detach=True, network_mode="none")
    containers.append(c)
    t.join(timeout=40)
    ours = [ev for ev in seen if _docker_payload(ev).get("Actor", {}).get("Attributes", {}).get("name") == name]
    tags = [ev["tag"] for ev in ours]
    assert "salt/engines/docker_events/start" in tags
    assert "salt/engines/docker_events/die" in tags
    assert all(ev["data"]["id"] == settings.minion_id for ev in ours)
