"""Errors of the node provider (children of the farm's hierarchy, named by who can fix them)."""

from __future__ import annotations

from benchfarm.errors import BenchfarmError, NotFoundError, SetupError, UserInputError


class NodeSpecError(UserInputError):
    """A node was asked for with a bad name, pool, CPU set or memory size."""


class NodeNameTakenError(UserInputError):
    """A node (or another container) already holds the name, with a different specification."""


class NodeNotFoundError(NotFoundError):
    """No node of that name exists."""


class EngineConflictError(UserInputError):
    """The Docker engine refused a create because the name is in use (HTTP 409)."""


class NodeStartError(BenchfarmError):
    """The node's container started but the node did not come up (its init or dockerd failed)."""


class NodeImageError(SetupError):
    """The node image cannot be built here (no golden base, no wheelhouse, pip failed)."""
