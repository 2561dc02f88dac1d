"""Prerequisites of the one-host farm: root, Debian packages, a service user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from benchfarm.errors import SetupError


def is_root() -> bool:
    return os.geteuid() == 0


def require_root(action: str) -> None:
    """Raise SetupError unless running as root."""
    if not is_root():
        raise SetupError(
            f"{action} needs root (it installs packages and starts system services)",
            hint="run it with sudo, or point benchfarm at existing services with BENCHFARM_* settings",
        )


def dpkg_installed(package: str) -> bool:
    """True when the Debian package is installed."""
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return res.returncode == 0 and "install ok installed" in res.stdout


class _Apt:
    """Process-wide apt state: ``apt-get update`` runs at most once per process."""

    updated = False


def ensure_debian_packages(packages: list[str], *, progress=print) -> list[str]:
    """Install the missing ones of ``packages`` with apt-get; returns what was installed."""
    missing = [p for p in packages if not dpkg_installed(p)]
    if not missing:
        return []
    require_root(f"installing {', '.join(missing)}")
    if shutil.which("apt-get") is None:
        raise SetupError(
            f"the Debian packages {', '.join(missing)} are needed but apt-get is not available",
            hint="install them with your system's package manager",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _Apt.updated:
        progress("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        _Apt.updated = True
    progress(f"apt-get install {' '.join(missing)}")
    res = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-5:])
        raise SetupError(
            f"apt-get install {' '.join(missing)} failed (exit {res.returncode}): {tail}",
            hint="check that the Debian package mirror is reachable (`apt-get update`)",
        )
    return missing


def ensure_system_user(name: str, home: str) -> pwd.struct_passwd:
    """Create an unprivileged system user (no login shell) if it does not exist."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    require_root(f"creating the user {name}")
    subprocess.run(
        ["useradd", "--system", "--home-dir", home, "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)
