"""The farm registry in the job path: a job pinned to a registry digest is pulled and run by digest."""

from __future__ import annotations

import subprocess

import pytest

from benchfarm.client import ApiClient
from tests.integration.jobs_support import busybox_spec, dump, wait_final

pytestmark = pytest.mark.integration


def test_a_job_pinned_to_a_registry_digest_is_pulled_and_run(farm, settings, docker_client, busybox_image):
    repo = f"{settings.registry_address}/benchfarm-test/busybox"
    image = docker_client.images.get(busybox_image)
    image.tag(repo, "regtest")
    for line in docker_client.images.push(repo, tag="regtest", stream=True, decode=True):
        assert "error" not in line, line
    digest_ref = docker_client.images.get(f"{repo}:regtest").attrs["RepoDigests"][0]
    assert digest_ref.startswith(f"{repo}@sha256:")
    docker_client.images.remove(f"{repo}:regtest")  # only the registry has it now under that name
    subprocess.run(["docker", "rmi", digest_ref], capture_output=True, check=False)
    api = ApiClient.from_settings(settings)
    job = wait_final(api, api.submit(busybox_spec(digest_ref, "echo '{\"value\": 9}'"))["id"])
    assert job["status"] == "succeeded", dump(job)
    assert job["image_ref"] == digest_ref
    assert job["image_digest"] == image.id  # same bits as the image that was pushed
    assert digest_ref in job["image_provenance"]["repo_digests"]
