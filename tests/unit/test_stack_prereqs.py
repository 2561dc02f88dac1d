"""Prerequisite checks of the one-host farm (pure logic: no service is started)."""

from __future__ import annotations

import socket

import pytest

from benchfarm.errors import SetupError
from benchfarm.settings import Settings
from benchfarm.stack import prereqs
from benchfarm.stack.services.elasticsearch import default_heap
from benchfarm.stack.stack import Stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_installing_a_missing_package_as_a_normal_user_says_it_needs_root(monkeypatch):
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 1000)
    with pytest.raises(SetupError) as exc:
        prereqs.ensure_debian_packages(["benchfarm-no-such-package"])
    assert "needs root" in exc.value.message and "sudo" in exc.value.hint


def test_stack_up_as_a_normal_user_with_services_down_says_it_needs_root(monkeypatch, tmp_path):
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 1000)
    settings = Settings(state_dir=tmp_path, docker_url=f"unix://{tmp_path}/no.sock", redis_port=_free_port())
    with pytest.raises(SetupError, match="benchfarm stack up needs root"):
        Stack(settings).up(lambda m: None, only=["redis"])


def test_unknown_service_names_the_choices(tmp_path):
    from benchfarm.errors import NotFoundError

    with pytest.raises(NotFoundError) as exc:
        Stack(Settings(state_dir=tmp_path)).service("mysql")
    assert "elasticsearch" in exc.value.hint


def test_heap_is_sized_from_memory():
    heap = default_heap()
    assert heap.endswith(("g", "m"))
