"""Parsers and checks for the job spec's small value types: sizes, cpusets, image references, capabilities.

Each checker raises ``ValueError`` with a message that says what is wrong and
what a good value looks like; the spec loader adds the field path and line.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

#: Where a benchmark container finds its writable results directory (the farm binds a fresh host
#: directory there for each repetition): the one contract the job spec, the image catalogue, the
#: engine adapter and the runner share. Light on purpose: no pydantic on the Salt module's import path.
RESULTS_MOUNT = "/results"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_CPUSET = re.compile(r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$")

# The grammar of github.com/distribution/reference (what `docker pull` accepts).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")

# capabilities(7), without the CAP_ prefix; Docker also accepts ALL.
LINUX_CAPABILITIES = frozenset([
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE",
    "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
    "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT",
    "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM", "ALL",
])


def parse_size(value: Any) -> int:
    """Bytes from a size: ``512m``, ``2g``, ``1.5GiB``, ``64k``, ``100`` (bytes) or a plain integer.

    Units are binary (k = 1024). Raises ValueError for anything else or a size that is not positive.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a size (use e.g. 512m or 2g)")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(value)
        if not m or (m.group(3) and not m.group(2) and m.group(3).lower() != "b"):
            raise ValueError(f"{value!r} is not a size (use e.g. 512m or 2g)")
        size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if size <= 0:
        raise ValueError(f"{value!r}: a size must be positive (use e.g. 512m or 2g)")
    return size


def check_cpuset(value: str) -> str:
    """A cpuset such as ``0-3,6`` with spaces removed; ValueError when malformed or a range runs backwards."""
    text = value.replace(" ", "")
    if not _CPUSET.match(text):
        raise ValueError(f"{value!r} is not a cpuset (use e.g. 0-3,6)")
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise ValueError(f"{value!r}: the range {part} runs backwards (write {hi}-{lo})")
    return text


def cpuset_cpus(cpuset: str) -> list[int]:
    """The CPU numbers of a cpuset string such as ``0-3,6``, in order, without duplicates."""
    cpus: list[int] = []
    for part in cpuset.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(c for c in range(int(lo), int(hi or lo) + 1) if c not in cpus)
    return cpus


def check_image_reference(value: str) -> str:
    """An image reference: ``name[:tag][@algo:digest]`` (Docker's grammar) or a bare ``sha256:<id>``.

    Raises ValueError naming what is wrong (upper case in the repository, a bad digest, spaces).
    """
    if _IMAGE_ID.match(value):
        return value
    m = _REFERENCE.match(value)
    if not m or len(m.group("name")) > 255:
        hint = ""
        if any(c.isspace() for c in value):
            hint = " (it contains whitespace)"
        elif value != value.lower() and _REFERENCE.match(value.lower()):
            hint = " (repository names are lower case)"
        elif "@" in value:
            hint = " (a digest is written name@sha256:<64 hex digits>)"
        raise ValueError(f"{value!r} is not an image reference{hint}; use e.g. benchfarm/sysbench:latest "
                         "or registry:5000/benchfarm/sysbench@sha256:<digest>")
    digest = m.group("digest")
    if digest and digest.startswith("sha256:") and len(digest) != len("sha256:") + 64:
        raise ValueError(f"{value!r}: a sha256 digest has 64 hex digits, this one has {len(digest) - 7}")
    return value


def normalize_capability(value: str) -> str:
    """A Linux capability in Docker's spelling (``SYS_NICE``); accepts ``cap_sys_nice`` too.

    Raises ValueError for a name that is not a Linux capability, suggesting close ones.
    """
    name = value.strip().upper().removeprefix("CAP_")
    if name not in LINUX_CAPABILITIES:
        close = difflib.get_close_matches(name, sorted(LINUX_CAPABILITIES), n=3, cutoff=0.6)
        raise ValueError(f"{value!r} is not a Linux capability"
                         + (f" (did you mean {', '.join(close)}?)" if close
                            else " (see capabilities(7), e.g. SYS_NICE)"))
    return name


def check_regex(value: str | None) -> str | None:
    """``value`` unchanged when it compiles as a Python regular expression; ValueError otherwise."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value
