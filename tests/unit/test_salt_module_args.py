"""Argument parsing of benchfarm.run_container (into the runner's ContainerSpec) and reactor payloads."""

from __future__ import annotations

import docker
import pytest

from benchfarm.adapters.docker_engine import device_requests
from benchfarm.errors import SpecError
from benchfarm.inventory.container_args import parse_container_spec, parse_device, parse_gpus
from benchfarm.inventory.reactor_payloads import container_event_payload
from benchfarm.runner.container_spec import DeviceMapping, GpuRequest


@pytest.mark.parametrize(
    "gpus, ids, expected",
    [
        (None, None, None),
        (1, None, GpuRequest(count=1)),
        ("2", None, GpuRequest(count=2)),
        ("all", None, GpuRequest(count=-1)),
        ("ALL", None, GpuRequest(count=-1)),
        (None, [0, "GPU-abc"], GpuRequest(device_ids=["0", "GPU-abc"])),
        (None, "0, GPU-abc", GpuRequest(device_ids=["0", "GPU-abc"])),  # one string from the Salt CLI
        (None, 1, GpuRequest(device_ids=["1"])),
    ],
)
def test_gpus(gpus, ids, expected):
    assert parse_gpus(gpus, ids) == expected


@pytest.mark.parametrize("gpus, ids", [(0, None), (-2, None), ("many", None), (True, None), (1, [0]), (None, []),
                                       (None, " , ")])
def test_gpus_refused(gpus, ids):
    with pytest.raises(SpecError):
        parse_gpus(gpus, ids)


def test_gpus_become_docker_device_requests():
    # the one translation, in the engine adapter; docker-py's own serialisation, no engine needed
    [dr] = device_requests(parse_container_spec("img", gpu_device_ids=["1"]).gpus)
    assert isinstance(dr, docker.types.DeviceRequest)
    assert dict(dr) == {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}
    [dr] = device_requests(parse_container_spec("img", gpus="all").gpus)
    assert dr["Count"] == -1


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("/dev/xclmgmt15104", DeviceMapping("/dev/xclmgmt15104", "/dev/xclmgmt15104", "rwm")),
        ("/dev/xclmgmt15104:/dev/fpga0", DeviceMapping("/dev/xclmgmt15104", "/dev/fpga0", "rwm")),
        ("/dev/null:/dev/fpga0:rw", DeviceMapping("/dev/null", "/dev/fpga0", "rw")),
    ],
)
def test_devices(spec, expected):
    assert parse_device(spec) == expected


@pytest.mark.parametrize("spec", ["dev/null", "/dev/null:fpga0", "/dev/null:/dev/x:rwx", "/a:/b:r:w", "/etc/passwd",
                                  "/dev/null::rw", "/dev/null:/dev/x:", "/dev/../etc/shadow"])
def test_devices_refused(spec):
    with pytest.raises(SpecError, match="device"):
        parse_device(spec)


def test_container_spec():
    cs = parse_container_spec(
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
    assert parse_container_spec("img").gpus is None
    devices = parse_container_spec("img", devices="/dev/null").devices
    assert [d.as_docker() for d in devices] == ["/dev/null:/dev/null:rwm"]
    with pytest.raises(SpecError):
        parse_container_spec("")


def _event(action, exit_code=None, labels=None):
    default_labels = {"benchfarm.job_id": "j1", "benchfarm.repetition": "2"}
    attrs = {"name": "bf-j1-r2", **(labels if labels is not None else default_labels)}
    if exit_code is not None:
        attrs["exitCode"] = str(exit_code)
    return {
        "Action": action,
        "Actor": {"ID": "c0ffee", "Attributes": attrs},
        "time": 1763884800,
        "timeNano": 1763884800123000000,
    }


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
