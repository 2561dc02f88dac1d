"""The Salt side posts to the API's internal routes with the internal credential, not the admin token
(salt/_modules/benchfarm_mod.py ``_api_post``, loaded as Salt loads it, with httpx recorded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchfarm.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mod(monkeypatch, tmp_path) -> Any:
    spec = importlib.util.spec_from_file_location("benchfarm_mod_under_test", REPO / "salt/_modules/benchfarm_mod.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__pillar__ = {"benchfarm": {}}
    monkeypatch.setenv("BENCHFARM_STATE_DIR", str(tmp_path))
    for name in ("BENCHFARM_API_TOKEN", "BENCHFARM_INTERNAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield module
    get_settings.cache_clear()


@pytest.fixture
def sent(monkeypatch) -> list[dict[str, str]]:
    """The headers of each request the module posts (httpx.post recorded, answering 200)."""
    recorded: list[dict[str, str]] = []

    def post(url: str, json: Any, headers: dict[str, str], timeout: float) -> httpx.Response:
        recorded.append(headers)
        return httpx.Response(200, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    return recorded


def test_the_state_dirs_internal_token_is_sent_not_the_admin_token(mod, sent, tmp_path):
    (tmp_path / "api-token").write_text("admin-secret")
    (tmp_path / "internal-token").write_text("internal-secret\n")
    assert mod._api_post("/internal/host-events", {})["posted"] is True
    assert sent == [{"Authorization": "Bearer internal-secret"}]


def test_the_pillars_internal_token_comes_first(mod, sent, tmp_path):
    (tmp_path / "internal-token").write_text("internal-secret")
    mod.__pillar__ = {"benchfarm": {"internal_token": "from-pillar", "api_token": "admin"}}
    mod._api_post("/internal/host-events", {})
    assert sent == [{"Authorization": "Bearer from-pillar"}]


def test_a_pillar_older_than_the_internal_credential_still_posts_with_its_token(mod, sent):
    mod.__pillar__ = {"benchfarm": {"api_token": "admin"}}
    mod._api_post("/internal/host-events", {})
    assert sent == [{"Authorization": "Bearer admin"}]


def test_quarantine_tells_the_farm_before_it_stops_the_worker(mod, monkeypatch, tmp_path):
    """The farm stops routing jobs to the host first; the marker is written before either."""
    steps: list[str] = []

    def post(url: str, json: Any, headers: dict[str, str], timeout: float) -> httpx.Response:
        assert (tmp_path / "quarantine.json").exists()
        steps.append(f"post {json['status']}")
        return httpx.Response(200, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    mod.__pillar__ = {"benchfarm": {"state_dir": str(tmp_path)}}  # the marker goes here, not to the farm's
    mod.__grains__ = {"id": "node-a", "benchfarm_service_manager": "systemd"}
    mod.__salt__ = {"service.stop": lambda name: steps.append(f"stop {name}")}
    ret = mod.quarantine("disk full")
    assert ret["quarantined"] is True and ret["notified"]["posted"] is True
    assert steps == ["post quarantined", "stop benchfarm-worker"], steps
