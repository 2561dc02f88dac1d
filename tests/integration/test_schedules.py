"""Schedules against the real Redis: two schedulers on a one-second cron fire every second exactly once;
a schedule added with the CLI fires a real job through the farm's job service, labelled with its fire time."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.cli.main import main
from benchfarm.client import ApiClient
from benchfarm.composition import Farm
from benchfarm.schedules.loop import Scheduler
from benchfarm.schedules.model import FIRE_LABEL, SCHEDULE_LABEL, Schedule
from benchfarm.schedules.repository import ScheduleRepository
from tests.integration.jobs_support import busybox_spec, wait_final, write_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def kv(farm, settings):
    client = RedisKV.from_settings(settings)
    yield client
    client.close()


def test_two_schedulers_fire_a_one_second_schedule_once_per_second(kv, settings):
    namespace = f"benchfarm:h15-sched-{uuid.uuid4().hex[:8]}"  # the farm's own schedulers never see it
    repo = ScheduleRepository(kv, namespace)
    repo.add(Schedule(id="h15-every-second", cron="* * * * * *", spec={"name": "h15"},
                      created_at=datetime.now().astimezone()))
    fired: list[tuple[datetime, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(schedule: Schedule, at: datetime, name: str) -> str:
        with lock:
            fired.append((at, name))
        return f"job-{at.timestamp():.0f}"

    def run(name: str) -> None:
        own = RedisKV.from_settings(settings)  # each scheduler has its own connection, as separate processes do
        sched = Scheduler(ScheduleRepository(own, namespace), lambda s, at: record(s, at, name), name=name)
        try:
            while not stop.is_set():
                sched.tick()
                stop.wait(0.1)
        finally:
            own.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("scheduler-a", "scheduler-b")]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(fired) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        claims = [f"{repo.claim_prefix}:h15-every-second:{int(at.timestamp())}" for at, _ in fired]
        kv.delete(repo.key, repo.last_key, *claims)
    times = sorted(at for at, _ in fired)
    assert len(times) >= 6
    assert len(set(times)) == len(times), f"a fire time fired twice: {fired}"
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(times)), times


def test_cli_schedule_fires_a_real_job_labelled_with_its_fire_time(farm, settings, busybox_image, tmp_path, capsys):
    sid = f"h15-e2e-{uuid.uuid4().hex[:8]}"
    spec = write_spec(tmp_path, busybox_spec(busybox_image, 'echo \'{"value": 7}\'', name="h15-scheduled"))
    api = ApiClient.from_settings(settings)
    f = Farm(settings)
    cron = f"* * * * * {(datetime.now() + timedelta(seconds=4)).second}"  # seconds last: once a minute, in ~4 s
    try:
        assert main(["schedule", "add", str(spec), "--cron", cron, "--id", sid, "--json"]) == 0
        added = json.loads(capsys.readouterr().out)
        assert added["id"] == sid and added["cron"] == cron
        assert main(["schedule", "add", str(spec), "--cron", "not cron", "--id", sid + "-x"]) == 2
        deadline = time.monotonic() + 75
        fires = []
        while not fires and time.monotonic() < deadline:  # the farm's workers may tick too: whoever claims fires
            fires = [x for x in f.scheduler.tick() if x.schedule_id == sid] or \
                ([last] if (last := f.schedules.last_fires().get(sid)) else [])
            time.sleep(0.3)
        (fire,) = fires
        assert fire.error is None and fire.job_id
        capsys.readouterr()
        assert main(["schedule", "list", "--json"]) == 0
        (row,) = [r for r in json.loads(capsys.readouterr().out) if r["id"] == sid]
        assert row["last_fire"] is not None and row["next_fire"] > row["last_fire"]["fire_at"]
    finally:
        removed = main(["schedule", "remove", sid])
        f.close()
    assert removed == 0
    job = wait_final(api, fire.job_id)
    assert job["status"] == "succeeded", job
    assert job["labels"][SCHEDULE_LABEL] == sid and job["labels"][FIRE_LABEL] == fire.fire_at.isoformat()
    assert job["repetitions"][0]["metrics"] == {"value": 7.0}
    farm_ = Farm(settings)
    fired_for = [j.labels[FIRE_LABEL] for j in farm_.repository.list(label=(SCHEDULE_LABEL, sid), limit=100)]
    farm_.close()
    assert fire.fire_at.isoformat() in fired_for and len(fired_for) == len(set(fired_for))  # one job per fire time
    assert main(["schedule", "remove", sid]) == 2  # gone


def test_a_campaign_schedule_creates_a_campaign_at_its_fire(farm, settings, busybox_image, tmp_path, capsys):
    sid = f"h15-camp-{uuid.uuid4().hex[:8]}"
    spec = write_spec(tmp_path, busybox_spec(busybox_image, 'echo \'{"value": 3}\'', name="h15-scheduled-campaign"))
    cron = f"* * * * * {(datetime.now() + timedelta(seconds=4)).second}"
    api = ApiClient.from_settings(settings)
    f = Farm(settings)
    try:
        assert main(["schedule", "add", str(spec), "--cron", cron, "--id", sid, "--across", "pool:default"]) == 0
        assert main(["schedule", "add", str(spec), "--cron", cron, "--id", sid + "-x", "--matrix", "NOPE=1"]) == 2
        deadline = time.monotonic() + 75
        fire = None
        while fire is None and time.monotonic() < deadline:  # this test's scheduler or a worker's claims it
            f.scheduler.tick()
            fire = f.schedules.last_fires().get(sid)
            time.sleep(0.3)
        assert fire is not None and fire.error is None and fire.job_id is None and fire.campaign_id
    finally:
        removed = main(["schedule", "remove", sid])
        f.close()
    assert removed == 0
    campaign = api.campaign(fire.campaign_id)
    (job,) = campaign["jobs"]
    assert job["target"] == "pool:default"
    record = wait_final(api, job["job_id"])
    assert record["status"] == "succeeded", record
    assert record["labels"][SCHEDULE_LABEL] == sid and record["labels"][FIRE_LABEL] == fire.fire_at.isoformat()
