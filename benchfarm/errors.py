"""The farm's exception hierarchy.

One root, ``BenchfarmError``; children are named by who can fix the problem.
Adapters convert their library's exceptions into these (keeping the cause),
so domain code and the CLI never see a docker, redis or elasticsearch error.
"""

from __future__ import annotations


class BenchfarmError(Exception):
    """Root of every error benchfarm raises on purpose.

    ``hint`` tells the user what to do about it; the CLI prints it after the message.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def full_message(self) -> str:
        """The message followed by the chain of causes, one per line."""
        parts = [self.message]
        cause = self.__cause__
        while cause is not None:
            text = cause.message if isinstance(cause, BenchfarmError) else f"{type(cause).__name__}: {cause}"
            parts.append(f"  caused by {text}")
            cause = cause.__cause__
        return "\n".join(parts)


class UserInputError(BenchfarmError):
    """The caller gave something invalid: a malformed spec, an unknown id, a bad flag."""

    exit_code = 2


class SpecError(UserInputError):
    """A job spec failed validation; the message names the field (and line, for a file)."""


class NotFoundError(UserInputError):
    """A job, image, host or other named thing does not exist."""


class ConflictError(UserInputError):
    """The request does not fit the current state of what it names (e.g. cancelling a job that already finished)."""


class UnsatisfiableJobError(UserInputError):
    """No registered host can satisfy the job's requirements."""


class HostPolicyError(UserInputError):
    """A job asks for more than its host's policy allows: a device, a capability, a network or a limit."""


class DeviceNotAllowedError(HostPolicyError):
    """A job asked for a device (or a capability) that is not on the host's allow-list."""


class SetupError(BenchfarmError):
    """The local machine is not set up as required (not root, missing package, port taken)."""

    exit_code = 3


class ServiceUnavailableError(BenchfarmError):
    """An external service (Docker, Redis, Elasticsearch, Salt) could not be reached."""

    exit_code = 4


class StoreError(BenchfarmError):
    """Elasticsearch refused documents or a request (a mapping conflict, a bad query)."""

    exit_code = 4


class BenchmarkFailedError(BenchfarmError):
    """A benchmark ran but failed (non-zero exit, timeout, OOM, unparsable results)."""

    exit_code = 5


class AuthError(UserInputError):
    """Missing or wrong API token."""


class ForbiddenError(UserInputError):
    """A valid API token whose role or team does not allow the request (another team's private job, an
    operator route for a submit token, an internal route for a user token)."""


class ImageBuildError(BenchfarmError):
    """``docker build`` (or the rootfs import) failed; the message carries the engine's last lines."""


class ImageValidationError(BenchmarkFailedError):
    """A freshly built image failed its own ``validate`` self-test, so it was not tagged usable."""


class RegistryError(BenchfarmError):
    """A push to or pull from the farm registry failed."""


class RequestTooLargeError(StoreError):
    """Elasticsearch (or a proxy before it) refused a request as too large (413): send it in smaller parts."""


class LeaseLostError(BenchfarmError):
    """A worker's claim on a job is no longer current: its lease expired, or the job was queued again,
    claimed by another attempt, cancelled or failed meanwhile. The worker stops and writes nothing more."""


class HostBusyError(BenchfarmError):
    """Every benchmark slot of this host stayed taken for longer than a job may wait for one."""

    exit_code = 4
