"""Errors of the image pipeline (children of the farm's hierarchy)."""

from __future__ import annotations

from benchfarm.errors import BenchfarmError, BenchmarkFailedError


class ImageBuildError(BenchfarmError):
    """``docker build`` (or the rootfs import) failed; the message carries the engine's last lines."""


class ImageValidationError(BenchmarkFailedError):
    """A freshly built image failed its own ``validate`` self-test, so it was not tagged usable."""


class RegistryError(BenchfarmError):
    """A push to or pull from the farm registry failed."""
