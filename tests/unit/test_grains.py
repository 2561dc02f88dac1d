"""The benchfarm grains module on fixture trees (loaded as Salt loads it, with __opts__ injected)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchfarm.errors import SetupError
from benchfarm.inventory import hardware

REPO = Path(__file__).resolve().parents[2]
HOSTS = REPO / "tests" / "fixtures" / "salt" / "hosts"


def _no_nvml():
    """A GPU lister as the NVML adapter behaves on a host without the library."""
    raise SetupError("NVML could not start: NVML Shared Library Not Found")


def load_grains(static: dict, host: str | None = None, monkeypatch=None):
    spec = importlib.util.spec_from_file_location(
        "bf_grains_under_test", REPO / "salt" / "_grains" / "benchfarm_grains.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.__opts__ = {"grains": {"benchfarm": static}}
    if host is not None:
        root = HOSTS / host
        fake = SimpleNamespace(
            detect=functools.partial(hardware.detect, root / "proc", root / "sys", root / "dev"),
            capabilities_from_grains=hardware.capabilities_from_grains,
        )
        monkeypatch.setattr(mod, "_hardware", fake)
        monkeypatch.setattr(mod, "_nvml", SimpleNamespace(list_gpus=_no_nvml))  # the adapter the grains pass in
    return mod


def test_fpga_host(monkeypatch):
    grains = load_grains({"pool": "fpga"}, "xeon-fpga", monkeypatch).benchfarm()
    assert grains["benchfarm_pool"] == "fpga"
    assert grains["benchfarm_detection"] == "ok"
    assert grains["benchfarm_cpu"]["count"] == 4 and grains["benchfarm_numa_nodes"] == 2
    assert [f["model"] for f in grains["benchfarm_fpgas"]] == ["u250", "d5005"]
    assert grains["benchfarm_gpus"] == [] and grains["benchfarm_has_nvidia_gpu"] is False
    assert grains["benchfarm_has_fpga"] is True and grains["benchfarm_fpga_vendors"] == ["intel", "xilinx"]
    assert grains["benchfarm_queues"] == ["fpga.any", "fpga.intel-d5005", "fpga.xilinx-u250", "pool.fpga"]


def test_node_reports_its_cgroup_capacity(monkeypatch):
    # recorded inside a node made with --cpus 0 --memory 1g on a 2-CPU, 23.5 GiB VM
    root = HOSTS / "node-cpus0-1g"
    mod = load_grains({"pool": "p"})
    fake = SimpleNamespace(
        detect=functools.partial(hardware.detect, root / "proc", root / "sys", root / "dev",
                                 cgroup_root=root / "cgroup"),
        capabilities_from_grains=hardware.capabilities_from_grains,
    )
    monkeypatch.setattr(mod, "_hardware", fake)
    monkeypatch.setattr(mod, "_nvml", SimpleNamespace(list_gpus=_no_nvml))
    grains = mod.benchfarm()
    assert grains["benchfarm_detection"] == "ok"
    assert (grains["benchfarm_cpu"]["count"], grains["benchfarm_cpu"]["cpuset"]) == (1, "0")
    assert grains["benchfarm_memory_bytes"] == 1 << 30
    assert grains["benchfarm_queues"] == ["pool.p"]


def test_vm_without_gpu_defaults_pool(monkeypatch):
    grains = load_grains({}, "amd-epyc-vm", monkeypatch).benchfarm()
    assert grains["benchfarm_pool"] == "default"
    assert grains["benchfarm_gpus"] == [] and grains["benchfarm_fpgas"] == []
    assert grains["benchfarm_disks"] == [{"name": "vda", "size_bytes": 536870912 * 512, "rotational": True}]
    assert grains["benchfarm_queues"] == ["pool.default"]


def test_static_hardware_grain_overrides_detection(monkeypatch):
    gpu = {"index": 0, "vendor": "nvidia", "model": "NVIDIA H100 80GB HBM3"}
    grains = load_grains({"pool": "gpu", "hardware": {"gpus": [gpu]}}, "amd-epyc-vm", monkeypatch).benchfarm()
    assert grains["benchfarm_gpus"] == [gpu] and grains["benchfarm_has_nvidia_gpu"] is True
    assert grains["benchfarm_queues"] == ["gpu.any", "gpu.nvidia-h100-80gb-hbm3", "pool.gpu"]


def test_without_benchfarm_package_grains_are_empty_not_errors(monkeypatch, caplog):
    mod = load_grains({"pool": "x"})
    monkeypatch.setattr(mod, "HAS_BENCHFARM", False)
    grains = mod.benchfarm()
    assert grains["benchfarm_gpus"] == [] and grains["benchfarm_memory_bytes"] == 0
    # no second queue naming to drift from the scheduler's: no queue, and the reason in a grain
    assert grains["benchfarm_queues"] == [] and grains["benchfarm_pool"] == "x"
    assert grains["benchfarm_detection"].startswith("benchfarm package not importable")
    assert "hardware grains are empty" in caplog.text


def test_detection_failure_is_reported_in_a_grain(monkeypatch):
    mod = load_grains({})

    def boom(**_kwargs):
        raise OSError("sysfs gone")

    fake = SimpleNamespace(detect=boom, capabilities_from_grains=hardware.capabilities_from_grains)
    monkeypatch.setattr(mod, "_hardware", fake)
    grains = mod.benchfarm()
    assert grains["benchfarm_detection"] == "detection failed: sysfs gone"
    assert grains["benchfarm_cpu"]["count"] == 1


@pytest.mark.parametrize("grain", ["benchfarm_gpus", "benchfarm_fpgas", "benchfarm_disks", "benchfarm_cpu"])
def test_real_detection_on_this_machine_renders(grain):
    # this machine, for real: no GPU -> an empty list, never an exception
    grains = load_grains({"pool": "default"}).benchfarm()
    assert grains["benchfarm_detection"] == "ok"
    assert grain in grains


def test_queue_naming_failure_is_reported_in_a_grain(monkeypatch):
    # a static hardware grain the scheduler's model refuses (a GPU without a model)
    grains = load_grains({"pool": "gpu", "hardware": {"gpus": [{"index": 0}]}}, "amd-epyc-vm", monkeypatch).benchfarm()
    assert grains["benchfarm_queues"] == []
    assert grains["benchfarm_detection"].startswith("queue naming failed:")


def test_queues_are_the_schedulers(monkeypatch):
    from benchfarm.scheduler.queues import queues_for_host

    grains = load_grains({"pool": "Pool X"}, "xeon-fpga", monkeypatch).benchfarm()
    caps = hardware.capabilities_from_grains(grains, host_id="h")
    assert grains["benchfarm_queues"] == sorted(queues_for_host(caps))
