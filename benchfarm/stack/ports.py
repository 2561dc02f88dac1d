"""Who listens where: used to refuse a start when a port is taken by someone else."""

from __future__ import annotations

import socket

import psutil


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


WILDCARDS = ("0.0.0.0", "::")


def port_owner(port: int, host: str | None = None) -> tuple[int | None, str | None]:
    """The (pid, process name) listening on TCP ``port`` (on ``host`` or a wildcard address), when found.

    Several processes may listen on one port at different addresses (the node gateway's relays
    listen on the node network's gateway, the services on loopback): ``host`` picks the right one.
    """
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None, None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and (
                host is None or c.laddr.ip == host or c.laddr.ip in WILDCARDS):
            if c.pid is None:
                return None, None
            try:
                return c.pid, psutil.Process(c.pid).name()
            except psutil.NoSuchProcess:
                return c.pid, None
    return None, None


def describe_owner(port: int, host: str | None = None) -> str:
    """A phrase naming the process on ``host``:``port`` for error messages."""
    pid, name = port_owner(port, host)
    if pid is None:
        return "another process"
    return f"{name or 'a process'} (pid {pid})"
