"""`benchfarm bisect` on the real farm: 8 image revisions of a tiny CPU-time benchmark, revision 5 planting a
slowdown; a bisection killed while it waits for a job resumes without submitting that job again, names r5
in at most 4 steps, and a run with its state forgotten reuses every result (no job).

Each revision's image is the shared test busybox plus a loop length and the OCI revision label; revisions 5
and later loop twice as long. The benchmark measures the CPU time of its own loop (as test_verdicts.py),
pinned to no pool: it runs on the machine's own worker.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tarfile
import time
import uuid

import docker
import pytest

from benchfarm.adapters.redis_store import RedisKV
from benchfarm.bisect.model import REVISION_LABEL, bisect_id
from benchfarm.bisect.sources import STATE_PREFIX
from benchfarm.cli.main import main
from benchfarm.composition import Farm
from benchfarm.images.labels import REVISION
from benchfarm.images.registry import push_image
from tests.integration.jobs_support import busybox_spec, write_spec

pytestmark = pytest.mark.integration

REVISIONS = [f"r{i}" for i in range(1, 9)]
LOOPS, SLOW_LOOPS = 60_000, 120_000
SCRIPT = (
    't(){ set -- $(cat /proc/$$/stat); echo $(( ${14} + ${15} )); }; '
    's=$(t); i=0; while [ $i -lt $LOOPS ]; do i=$((i+1)); done; e=$(t); '
    'echo "{\\"ms\\": $(( (e-s)*10 ))}"'
)


def _build(docker_client, base: str, repository: str, revision: str, loops: int) -> str:
    dockerfile = f'FROM {base}\nENV LOOPS={loops}\nLABEL {REVISION}="{revision}"\n'.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    tag = f"{repository}:{revision}"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, network_mode="none")
    return tag


@pytest.fixture(scope="module")
def revision_images(docker_client, busybox_image, settings):
    """The 8 revisions built here and pushed to the farm registry; all of it removed after."""
    repository = f"benchfarm-test/h15-bisect-{uuid.uuid4().hex[:6]}"
    tags: list[str] = []
    pushed: list[str] = []
    farm = Farm(settings)
    try:
        for i, rev in enumerate(REVISIONS, 1):
            tags.append(_build(docker_client, busybox_image, repository, rev, SLOW_LOOPS if i >= 5 else LOOPS))
            pushed.append(push_image(farm.images, tags[-1], farm.registry.address).digest)
        yield repository
    finally:
        for digest in pushed:
            farm.registry.delete(repository, digest)
        for tag in tags:
            for ref in (tag, f"{farm.registry.address}/{tag}"):
                with contextlib.suppress(docker.errors.ImageNotFound):
                    docker_client.images.remove(ref, force=True)
        farm.registry.close()
        farm.close()


def test_bisect_resumes_after_a_kill_names_revision_5_in_at_most_4_steps_then_reuses_everything(
        revision_images, settings, tmp_path, capsys):
    name = f"h15-bisect-{uuid.uuid4().hex[:6]}"
    spec = write_spec(tmp_path, busybox_spec(
        f"{revision_images}:r1", SCRIPT, name=name, warmup=0, timeout_s=60,
        results={"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}}))
    args = ["bisect", str(spec), "--good", "r1", "--bad", "r8", "--revisions", ",".join(REVISIONS), "--json"]
    kv = RedisKV.from_settings(settings)
    state_key = f"{STATE_PREFIX}:{bisect_id(name, 'ms', REVISIONS)}"
    try:
        # an interrupted bisection: killed while it waits for its first job
        proc = subprocess.Popen([sys.executable, "-m", "benchfarm.cli.main", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        pending: dict[str, str] = {}
        while not pending and time.monotonic() < deadline and proc.poll() is None:
            raw = kv.get(state_key)
            pending = json.loads(raw)["pending"] if raw else {}
            time.sleep(0.1)
        proc.kill()
        proc.wait(timeout=30)
        assert pending, "the bisection saved no pending job before it was killed"
        (interrupted_rev, interrupted_job), = pending.items()

        rc = main(args)  # the same command resumes: waits for that job instead of submitting it again
        captured = capsys.readouterr()
        assert rc == 0, captured.err[-3000:]
        assert "resuming" in captured.err
        result = json.loads(captured.out)
        assert result["bisect_id"] == bisect_id(name, "ms", REVISIONS)
        assert (result["first_bad"], result["last_good"]) == ("r5", "r4"), result
        assert 1 <= len(result["steps"]) <= 4, result["steps"]
        assert {s["revision"] for s in result["steps"]} <= {"r2", "r3", "r4", "r5", "r6", "r7"}
        bad_steps = [s for s in result["steps"] if s["side"] == "bad"]
        assert bad_steps and all(s["position"] > 0.5 and s["p_vs_good"] < 0.05 for s in bad_steps)
        assert interrupted_job not in result["jobs_submitted"]
        farm = Farm(settings)
        runs = farm.repository.list(label=(REVISION_LABEL, interrupted_rev), name=name, limit=100)
        farm.close()
        assert [j.id for j in runs] == [interrupted_job]  # never submitted twice
        # the images came from the farm registry, named by manifest digest, as any pool host would pull them
        assert runs[0].image_ref.startswith(f"{settings.registry_address}/{revision_images}@sha256:")

        again = main([*args, "--restart"])  # state forgotten: only the finished jobs' results are left
        second = json.loads(capsys.readouterr().out)
        assert again == 0 and second["first_bad"] == "r5"
        assert second["jobs_submitted"] == [] and second["steps"] == result["steps"]
    finally:
        kv.delete(state_key)
        kv.close()


def test_bisect_refuses_a_revision_without_an_image(revision_images, tmp_path, capsys):
    spec = write_spec(tmp_path, busybox_spec(f"{revision_images}:r1", SCRIPT, name="h15-bisect-missing"))
    assert main(["bisect", str(spec), "--good", "r1", "--bad", "r9", "--revisions", "r1,r9"]) == 2
    assert "r9" in capsys.readouterr().err
    assert main(["bisect", str(spec), "--good", "r1", "--bad", "r9", "--revisions", "r1,r9",
                 "--images", "engine", "--restart"]) == 2
    assert "no image of" in capsys.readouterr().err
    assert main(["bisect", str(spec), "--good", "r8", "--bad", "r1", "--revisions", ",".join(REVISIONS)]) == 2
