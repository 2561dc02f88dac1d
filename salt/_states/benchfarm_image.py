"""
Farm images on a host, by digest: ``benchfarm_image.present`` / ``benchfarm_image.absent``.

Thin over the execution module ``benchfarm`` (``image_present``, ``pull_image``,
``remove_image``). Checks first, changes only what differs, honours ``test=True``.

.. code-block:: yaml

    benchfarm-images-stream-present:
      benchfarm_image.present:
        - name: 127.0.0.1:15000/bench/stream@sha256:0123...
"""

__virtualname__ = "benchfarm_image"


def __virtual__():
    if "benchfarm.image_present" not in __salt__:  # pylint: disable=undefined-variable
        return (False, "benchfarm_image: the benchfarm execution module is not available")
    return __virtualname__


def present(name):
    """Ensure the engine holds image ``name`` (pulled from its registry when missing)."""
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if __salt__["benchfarm.image_present"](name):  # pylint: disable=undefined-variable
        ret["comment"] = f"image {name} is present"
        return ret
    if __opts__["test"]:  # pylint: disable=undefined-variable
        ret["result"] = None
        ret["comment"] = f"image {name} would be pulled"
        ret["changes"] = {"pulled": name}
        return ret
    try:
        image_id = __salt__["benchfarm.pull_image"](name)  # pylint: disable=undefined-variable
    except Exception as exc:  # pylint: disable=broad-except
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"pulled": name, "id": image_id}
    ret["comment"] = f"pulled image {name}"
    return ret


def absent(name):
    """Ensure the engine does not hold image ``name``."""
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not __salt__["benchfarm.image_present"](name):  # pylint: disable=undefined-variable
        ret["comment"] = f"image {name} is absent"
        return ret
    if __opts__["test"]:  # pylint: disable=undefined-variable
        ret["result"] = None
        ret["comment"] = f"image {name} would be removed"
        ret["changes"] = {"removed": name}
        return ret
    try:
        __salt__["benchfarm.remove_image"](name)  # pylint: disable=undefined-variable
    except Exception as exc:  # pylint: disable=broad-except
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"removed": name}
    ret["comment"] = f"removed image {name}"
    return ret
