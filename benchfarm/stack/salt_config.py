"""Renders the Salt master and minion configs of the one-host farm from salt/templates/."""

from __future__ import annotations

from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from benchfarm.settings import Settings


def salt_root(settings: Settings) -> Path:
    return settings.state_dir / "salt"


def master_config_dir(settings: Settings) -> Path:
    return salt_root(settings) / "etc-master"


def minion_config_dir(settings: Settings, minion_id: str | None = None) -> Path:
    suffix = "" if minion_id is None else f"-{minion_id}"
    return salt_root(settings) / f"etc-minion{suffix}"


def reactor_map(settings: Settings) -> list[dict[str, list[str]]]:
    """reactors/reactor_map.yaml with its SLS paths made absolute."""
    path = settings.repo_root / "reactors" / "reactor_map.yaml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    return [
        {tag: [str((settings.repo_root / sls).resolve()) for sls in sls_list] for tag, sls_list in entry.items()}
        for entry in entries
    ]


def _env(settings: Settings) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(settings.repo_root / "salt" / "templates")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_master(settings: Settings) -> Path:
    """Write the master config into its config dir; returns the dir (for ``-c``)."""
    root = salt_root(settings)
    text = _env(settings).get_template("master.j2").render(
        interface=settings.salt_master_host,
        publish_port=settings.salt_publish_port,
        ret_port=settings.salt_ret_port,
        root_dir=root / "master",
        log_dir=settings.log_dir,
        repo_root=settings.repo_root,
        reactor=reactor_map(settings),
    )
    conf_dir = master_config_dir(settings)
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "master").write_text(text)
    return conf_dir


def render_minion(
    settings: Settings,
    *,
    minion_id: str | None = None,
    pool: str | None = None,
    extra_grains: dict | None = None,
    docker_events: bool = True,
) -> Path:
    """Write a minion config (this host's by default); returns its config dir (for ``-c``)."""
    mid = minion_id or settings.minion_id
    root = salt_root(settings) / ("minion" if minion_id is None else f"minion-{minion_id}")
    text = _env(settings).get_template("minion.j2").render(
        minion_id=mid,
        master_host=settings.salt_master_host,
        ret_port=settings.salt_ret_port,
        publish_port=settings.salt_publish_port,
        root_dir=root,
        log_dir=settings.log_dir if minion_id is None else root / "log",
        pool=pool or settings.pool,
        extra_grains=extra_grains or {},
        docker_url=settings.docker_url,
        docker_events=docker_events,
        repo_root=settings.repo_root,
    )
    conf_dir = minion_config_dir(settings, minion_id)
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "minion").write_text(text)
    return conf_dir
