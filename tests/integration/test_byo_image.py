"""Bring your own benchmark on the one-host farm: a user's directory outside images/ built with
`benchfarm image build PATH`, pushed with `benchfarm image push`, run by digest through the real API and
worker, its `{"metric", "value", "unit"}` lines read back as metrics (issue 14)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from benchfarm.client import ApiClient
from benchfarm.images import labels as L
from tests.integration.jobs_support import cli, dump, wait_final

pytestmark = pytest.mark.integration

BENCH = """#!/bin/sh
echo "warming up" >&2
echo '{"metric": "ops", "value": 1234.5, "unit": "ops/s", "higher_is_better": true}'
echo '{"metric": "latency", "value": 0.25, "unit": "ms", "higher_is_better": false}'
"""


@pytest.fixture
def user_dir(tmp_path: Path, busybox_image: str) -> Path:
    """A directory as a user would write it: a Dockerfile and a script, no benchmark.yaml."""
    d = tmp_path / "my-bench"
    d.mkdir()
    (d / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY bench.sh /usr/local/bin/bench\n"
                                  'CMD ["/usr/local/bin/bench"]\n')
    (d / "bench.sh").write_text(BENCH)
    (d / "bench.sh").chmod(0o755)
    return d


@pytest.fixture
def image_name(docker_client, settings) -> Iterator[str]:
    """A unique image name; every local image under it (tags, and pulls by registry digest) is removed after."""
    name = f"byo-test-{uuid.uuid4().hex[:8]}"
    yield name
    for image in docker_client.images.list():
        refs = [*image.tags, *(image.attrs.get("RepoDigests") or [])]
        if any(f"benchfarm/{name}:" in r or f"benchfarm/{name}@" in r for r in refs):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.images.remove(image.id, force=True)


def test_a_user_directory_builds_pushes_and_reports_metrics(farm, settings, docker_client, user_dir, image_name,
                                                           busybox_image):
    built = cli("image", "build", str(user_dir), "--name", image_name, "--json")
    assert built.returncode == 0, built.stderr[-3000:]
    result = json.loads(built.stdout)
    assert result["validated"] is False and "tagged without a self-test" in built.stderr
    version = result["tags"][0].rsplit(":", 1)[1]
    assert result["tags"] == [f"benchfarm/{image_name}:{version}", f"benchfarm/{image_name}:latest"]
    assert version.startswith("0.0.0-")
    labels = docker_client.images.get(result["image_id"]).labels
    base = docker_client.images.get(busybox_image)
    assert labels[L.NAME] == image_name and labels[L.VERSION] == version
    assert labels[L.BASE_NAME] == busybox_image and labels[L.BASE_DIGEST] == base.id
    assert json.loads(labels[L.ANCESTORS])[-1] == base.id
    assert labels[L.SOURCE] == str(user_dir.resolve()) and labels[L.GIT_DIRTY] == "true"

    again = cli("image", "build", str(user_dir), "--name", image_name, "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["image_id"] == result["image_id"]  # unchanged inputs, the same image

    pushed = cli("image", "push", image_name, "--json")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    pull_ref = json.loads(pushed.stdout)["pull_ref"]
    assert pull_ref.startswith(f"{settings.registry_address}/benchfarm/{image_name}@sha256:")
    docker_client.images.remove(f"{settings.registry_address}/benchfarm/{image_name}:{version}")
    subprocess.run(["docker", "rmi", pull_ref], capture_output=True, check=False)  # the job pulls it

    spec = {"name": "byo-test", "image": pull_ref, "warmup": 0, "repetitions": 2, "timeout_s": 60,
            "results": {"metrics": {"ops": {"unit": "ops/s", "direction": "higher"},
                                    "latency": {"unit": "us", "direction": "lower"}}}}
    api = ApiClient.from_settings(settings)
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "succeeded", dump(job)
    assert job["image_digest"] == result["image_id"]
    assert [r["metrics"] for r in job["repetitions"]] == [pytest.approx({"ops": 1234.5, "latency": 250.0})] * 2
    assert "warming up" in job["repetitions"][0]["logs"]
    assert docker_client.containers.list(all=True, filters={"label": f"benchfarm.job_id={job['id']}"}) == []


def test_a_wrong_direction_in_the_spec_fails_the_job_naming_it(farm, settings, docker_client, user_dir, image_name):
    built = cli("image", "build", str(user_dir), "--name", image_name, "--json")
    assert built.returncode == 0, built.stderr[-3000:]
    spec = {"name": "byo-test", "image": f"benchfarm/{image_name}:latest", "warmup": 0, "repetitions": 1,
            "timeout_s": 60, "results": {"metrics": {"latency": {"unit": "ms"}}}}
    api = ApiClient.from_settings(settings)
    job = wait_final(api, api.submit(spec)["id"])
    assert job["status"] == "failed", dump(job)
    assert "latency is lower-is-better in stdout (JSON lines)" in job["reason"], job["reason"]
