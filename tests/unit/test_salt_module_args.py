"""Argument building of benchfarm.run_container (GPU device_requests) and reactor payloads."""

from __future__ import annotations

import docker
import pytest

from benchfarm.adapters.docker_engine import device_requests
from benchfarm.errors import SpecError
from benchfarm.inventory.container_args import build_container_spec, build_device_requests, build_devices
from benchfarm.inventory.reactor_payloads import container_event_payload

GPU = [["gpu"]]


@pytest.mark.parametrize(
    "gpus, ids, expected",
    [
        (None, None, []),
        (1, None, [{"driver": "nvidia", "count": 1, "capabilities": GPU}]),
        ("2", None, [{"driver": "nvidia", "count": 2, "capabilities": GPU}]),
        ("all", None, [{"driver": "nvidia", "count": -1, "capabilities": GPU}]),
        ("ALL", None, [{"driver": "nvidia", "count": -1, "capabilities": GPU}]),
        (None, [0, "GPU-abc"], [{"driver": "nvidia", "device_ids": ["0", "GPU-abc"], "capabilities": GPU}]),
    ],
)
def test_device_requests(gpus, ids, expected):
    assert build_device_requests(gpus, ids) == expected


@pytest.mark.parametrize("gpus, ids", [(0, None), (-2, None), ("many", None), (True, None), (1, [0]), (None, [])])
def test_device_requests_refused(gpus, ids):
    with pytest.raises(SpecError):
        build_device_requests(gpus, ids)


def test_device_requests_become_docker_device_requests():
    # what the engine adapter sends for them; docker-py's own serialisation, no engine needed
    [dr] = device_requests(build_container_spec("img", gpu_device_ids=["1"]).gpus)
    assert isinstance(dr, docker.types.DeviceRequest)
    assert dict(dr) == {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}
    [dr] = device_requests(build_container_spec("img", gpus="all").gpus)
    assert dr["Count"] == -1


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("/dev/xclmgmt15104", "/dev/xclmgmt15104:/dev/xclmgmt15104:rwm"),
        ("/dev/xclmgmt15104:/dev/fpga0", "/dev/xclmgmt15104:/dev/fpga0:rwm"),
        ("/dev/null:/dev/fpga0:rw", "/dev/null:/dev/fpga0:rw"),
    ],
)
def test_devices(spec, expected):
    assert build_devices([spec]) == [expected]


@pytest.mark.parametrize("spec", ["dev/null", "/dev/null:fpga0", "/dev/null:/dev/x:rwx", "/a:/b:r:w"])
def test_devices_refused(spec):
    with pytest.raises(SpecError):
        build_devices([spec])


def test_container_spec():
    cs = build_container_spec(
        "reg:15000/bench/gemm@sha256:00", command=["gemm"], gpus="all", devices=["/dev/null"], cpuset=0,
        mem_limit="1g", name="bf-1", labels={"benchfarm.job_id": 7},
    )
    assert (cs.image, cs.command, cs.name) == ("reg:15000/bench/gemm@sha256:00", ["gemm"], "bf-1")
    assert cs.labels == {"benchfarm.job_id": "7"}
    assert cs.network_mode == "none"
    assert (cs.gpus.driver, cs.gpus.count, cs.gpus.device_ids, cs.gpus.capabilities) == ("nvidia", -1, None, ("gpu",))
    assert [d.as_docker() for d in cs.devices] == ["/dev/null:/dev/null:rwm"]
    assert cs.cpuset == "0"
    assert cs.mem_limit == "1g"
    # the same lock-down as the runner's containers
    assert cs.read_only and cs.security_opt == ["no-new-privileges"]
    assert build_container_spec("img").gpus is None
    with pytest.raises(SpecError):
        build_container_spec("")


def _event(action, exit_code=None, labels=None):
    attrs = {"name": "bf-j1-r2", **(labels if labels is not None else {"benchfarm.job_id": "j1", "benchfarm.repetition": "2"})}
    if exit_code is not None:
        attrs["exitCode"] = str(exit_code)
    return {"Action": action, "Actor": {"ID": "c0ffee", "Attributes": attrs}, "time": 1763884800, "timeNano": 1763884800123000000}


@pytest.mark.parametrize(
    "event, reported, oom",
    [
        (_event("die", 137), True, None),
        (_event("die", 1), True, None),
        (_event("oom"), True, True),
        (_event("die", 0), False, None),
        (_event("die", 137, labels={}), False, None),
        (_event("start"), False, None),
    ],
)
def test_container_event_payload(event, reported, oom):
    payload = container_event_payload(event, "node-a")
    assert (payload is not None) == reported
    if payload:
        assert payload["job_id"] == "j1" and payload["repetition"] == "2" and payload["host_id"] == "node-a"
        assert payload["oom_killed"] is oom
        assert payload["time"] == pytest.approx(1763884800.123)
        assert payload["labels"] == {"benchfarm.job_id": "j1", "benchfarm.repetition": "2"}
