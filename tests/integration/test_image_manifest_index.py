"""Image manifests are indexed in Elasticsearch, so a diff can be answered without starting either image."""

from __future__ import annotations

import pytest

from benchfarm.adapters.elasticsearch import EsClient
from tests.integration.jobs_support import cli

pytestmark = pytest.mark.integration


def test_a_manifest_is_indexed_per_file(farm, settings, catalogue_image, docker_client):
    image = catalogue_image("busybox")
    image_id = docker_client.images.get(image).id
    res = cli("image", "manifest", image)
    assert res.returncode == 0, res.stderr
    assert "indexed" in res.stderr
    es = EsClient.from_settings(settings)
    index = f"{settings.index_prefix}-image-manifests"
    es.refresh(index)
    hits = es.search(index, {"query": {"bool": {"filter": [
        {"term": {"image_id": image_id}}, {"term": {"path": "/bin/busybox"}}]}}})["hits"]["hits"]
    es.close()
    assert len(hits) == 1
    doc = hits[0]["_source"]
    assert doc["kind"] == "file" and len(doc["sha256"]) == 64 and doc["size"] > 100_000
