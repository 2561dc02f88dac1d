"""GPU collector logic against a fake NVML reader (same interface as the adapter), and the FPGA hwmon collector
on a recorded sysfs layout.  On this machine (no GPU, no NVML library, no FPGA) both must report unavailable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from benchfarm.collectors.fpga import FpgaCollector
from benchfarm.collectors.gpu import GpuCollector, NvmlReader

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "collectors"
FPGA_SYSFS = FIX / "sysfs_fpga"


class FakeNvml:
    """Two GPUs; the second (a consumer board) has no ECC and no PCIe counters."""

    def __init__(self, count: int = 2) -> None:
        self.count = count
        self.calls: dict[str, int] = {}

    def _c(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def device_count(self) -> int:
        return self.count

    def utilization(self, i: int):
        self._c("utilization")
        return (97, 41) if i == 0 else (3, 1)

    def memory(self, i: int):
        self._c("memory")
        return (30 * 2**30, 80 * 2**30)

    def power_w(self, i: int):
        self._c("power")
        return 612.5

    def temperature_c(self, i: int):
        self._c("temperature")
        return 66.0

    def clocks_mhz(self, i: int):
        self._c("clocks")
        return (1980, 2619)

    def pcie_kb_per_s(self, i: int):
        self._c("pcie")
        return (1000, 250) if i == 0 else None

    def throttle_reasons(self, i: int):
        self._c("throttle")
        return 0x4  # SwPowerCap

    def ecc_errors(self, i: int):
        self._c("ecc")
        return (2, 0) if i == 0 else None


def test_fake_implements_the_adapter_interface() -> None:
    from benchfarm.adapters.nvml import NvmlAdapter

    methods = {m for m in vars(NvmlReader) if not m.startswith("_")}
    assert methods and methods <= set(vars(NvmlAdapter)) and methods <= set(vars(FakeNvml))
    assert isinstance(FakeNvml(), NvmlReader)


def test_gpu_fields_and_conversions() -> None:
    col = GpuCollector(FakeNvml())
    assert col.available()
    s = col.sample()
    assert (s["gpu0_util_pct"], s["gpu0_mem_util_pct"]) == (97, 41)
    assert (s["gpu0_mem_used_bytes"], s["gpu0_mem_total_bytes"]) == (30 * 2**30, 80 * 2**30)
    assert s["gpu0_power_w"] == 612.5 and s["gpu0_temp_c"] == 66.0
    assert (s["gpu0_sm_clock_mhz"], s["gpu0_mem_clock_mhz"]) == (1980, 2619)
    assert (s["gpu0_pcie_tx_bytes_per_s"], s["gpu0_pcie_rx_bytes_per_s"]) == (1000 * 1024, 250 * 1024)
    assert s["gpu0_throttle_reasons"] == 0x4
    assert (s["gpu0_ecc_corrected"], s["gpu0_ecc_uncorrected"]) == (2, 0)
    assert set(s) == {f.name for f in col.fields()}


def test_unsupported_queries_are_dropped_at_probe_and_never_asked_again() -> None:
    fake = FakeNvml()
    col = GpuCollector(fake, pcie_every_s=0.0)
    assert col.available()
    probe_calls = dict(fake.calls)
    for _ in range(5):
        s = col.sample()
    assert "gpu1_ecc_corrected" not in s and "gpu1_pcie_tx_bytes_per_s" not in s
    assert s["gpu1_util_pct"] == 3
    # pcie and ecc were asked for both GPUs at probe, then only for GPU 0 on each of the 5 samples
    assert fake.calls["pcie"] == probe_calls["pcie"] + 5
    assert fake.calls["ecc"] == probe_calls["ecc"] + 5
    assert fake.calls["utilization"] == probe_calls["utilization"] + 10


def test_slow_pcie_query_is_read_at_most_every_pcie_every_s() -> None:
    t = [100.0]
    fake = FakeNvml()
    col = GpuCollector(fake, pcie_every_s=1.0, clock=lambda: t[0])
    assert col.available()
    before = fake.calls["pcie"]
    got = []
    for _ in range(10):  # 10 samples at 10 Hz
        got.append("gpu0_pcie_tx_bytes_per_s" in col.sample())
        t[0] += 0.1
    assert got[0] and sum(got) == 1 and fake.calls["pcie"] == before + 1
    t[0] = 101.0
    assert "gpu0_pcie_tx_bytes_per_s" in col.sample()  # a second later it is read again


def test_pcie_can_be_left_out_and_indices_selected() -> None:
    fake = FakeNvml()
    col = GpuCollector(fake, indices=[1], pcie=False)
    assert col.available()
    s = col.sample()
    assert all(k.startswith("gpu1_") for k in s)
    assert "pcie" not in fake.calls


def test_no_gpu_is_unavailable() -> None:
    assert not GpuCollector(FakeNvml(count=0)).available()


def test_real_nvml_on_a_host_without_gpu_reports_unavailable_once(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("pynvml")
    from benchfarm.adapters import nvml

    try:
        nvml.init()
    except Exception:  # the expected case here: no driver library
        pass
    else:
        pytest.skip("this host has a working NVML; the unavailable path cannot be checked here")
    caplog.set_level(logging.INFO, logger="benchfarm.collectors")
    col = GpuCollector(open_reader=nvml.NvmlAdapter)
    first = col.available()
    second = col.available()
    assert not first and first is second
    assert "NVML" in first.reason
    assert len([r for r in caplog.records if "gpu unavailable" in r.getMessage()]) == 1


# ---- FPGA ------------------------------------------------------------------------------------------


def _hwmon(name: str) -> int:
    return int((FPGA_SYSFS / "bus/pci/devices/0000:3b:00.0/hwmon/hwmon3" / name).read_text())


def test_fpga_sensors_from_recorded_sysfs() -> None:
    col = FpgaCollector(sysfs_root=FPGA_SYSFS)
    av = col.available()
    assert av, av.reason
    assert col.cards == ["0000:3b:00.0"]  # the Intel NIC (vendor 0x8086) is not an FPGA
    s = col.sample()
    assert s == {
        "fpga0_temp1_c": _hwmon("temp1_input") / 1000,
        "fpga0_temp2_c": _hwmon("temp2_input") / 1000,
        "fpga0_power1_w": _hwmon("power1_input") / 1e6,
        "fpga0_in0_v": _hwmon("in0_input") / 1000,
        "fpga0_curr1_a": _hwmon("curr1_input") / 1000,
    }
    assert {f.name: f.unit for f in col.fields()}["fpga0_power1_w"] == "W"


def test_fpga_card_without_hwmon_is_unavailable(tmp_path: Path) -> None:
    dev = tmp_path / "bus/pci/devices/0000:af:00.0"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x1172\n")
    av = FpgaCollector(sysfs_root=tmp_path).available()
    assert not av and "hwmon" in av.reason


def test_this_host_has_no_fpga() -> None:
    av = FpgaCollector().available()
    assert not av and "no FPGA" in av.reason
