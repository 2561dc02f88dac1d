"""
Farm images on a host, by digest: ``benchfarm_image.present`` / ``benchfarm_image.absent``.

Thin over the execution module ``benchfarm`` (``image_present``, ``pull_image``,
``remove_image``). Checks first, changes only what differs, honours ``test=True``.

.. code-block:: yaml

    benchfarm-images-stream-present:
      benchfarm_image.present:
        - name: 127.0.0.1:15000/bench/stream@sha256:0123...
"""

from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "benchfarm_image"


def __virtual__() -> str | tuple[bool, str]:
    if "benchfarm.image_present" not in __salt__:
        return (False, "benchfarm_image: the benchfarm execution module is not available")
    return __virtualname__


def present(name: str) -> dict[str, Any]:
    """Ensure the engine holds image ``name`` (pulled from its registry when missing)."""
    ret: dict[str, Any] = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        if __salt__["benchfarm.image_present"](name):
            ret["comment"] = f"image {name} is present"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"image {name} would be pulled"
            ret["changes"] = {"pulled": name}
            return ret
        image_id = __salt__["benchfarm.pull_image"](name)
    except CommandExecutionError as exc:  # the engine is down or refused: the state fails, saying why
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"pulled": name, "id": image_id}
    ret["comment"] = f"pulled image {name}"
    return ret


def absent(name: str) -> dict[str, Any]:
    """Ensure the engine does not hold image ``name``."""
    ret: dict[str, Any] = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        if not __salt__["benchfarm.image_present"](name):
            ret["comment"] = f"image {name} is absent"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"image {name} would be removed"
            ret["changes"] = {"removed": name}
            return ret
        __salt__["benchfarm.remove_image"](name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"removed": name}
    ret["comment"] = f"removed image {name}"
    return ret
