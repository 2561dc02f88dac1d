"""Parse Debian's ``/var/lib/dpkg/status`` (deb822 paragraphs) into installed package versions."""

from __future__ import annotations


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Installed packages -> version, from the text of a dpkg status file.

    Only paragraphs whose Status ends in ``installed`` count; ``Multi-Arch: same``
    packages (which may be installed once per architecture) are named ``name:arch``.
    """
    packages: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if not line or line[0] in " \t" or ":" not in line:
                continue  # continuation lines (descriptions, conffiles) carry nothing we need
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        name, version, status = fields.get("package"), fields.get("version"), fields.get("status", "")
        if not name or not version or not status.endswith(" installed"):
            continue
        arch = fields.get("architecture", "")
        key = f"{name}:{arch}" if fields.get("multi-arch") == "same" and arch not in ("", "all") else name
        packages[key] = version
    return packages
