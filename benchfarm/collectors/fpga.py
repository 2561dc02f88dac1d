"""FPGA collector: hwmon readings (temperature, power, voltage, current) of Xilinx/AMD and Intel/Altera PCI cards.

Cards are found by PCI vendor id under ``<sysfs>/bus/pci/devices/*/vendor``;
their sensors are the standard hwmon files under ``<device>/hwmon/hwmon*/``
(units per the kernel's hwmon sysfs interface: millidegrees C, microwatts,
millivolts, milliamps).  Fields are ``fpga<i>_<sensor>_<unit>``, e.g.
``fpga0_temp1_c``, ``fpga0_power1_w``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from benchfarm.collectors.base import Availability, Collector, FieldSpec, Number, OpenFile, close_all
from benchfarm.inventory.hardware import FPGA_PCI_VENDORS

# hwmon file kind -> (field suffix, unit, divisor to SI-ish unit)
_SENSORS = {"temp": ("c", "degC", 1000.0), "power": ("w", "W", 1_000_000.0),
            "in": ("v", "V", 1000.0), "curr": ("a", "A", 1000.0)}
_SENSOR_FILE = re.compile(r"(temp|power|in|curr)(\d+)_(input|average)")


class FpgaCollector(Collector):
    """hwmon sensors of every FPGA card on the host.

    Args:
        sysfs_root: where /sys is (tests point it at a recorded tree).
        addresses: only these PCI addresses (default: every card with an FPGA vendor id).
    """

    name = "fpga"

    def __init__(self, *, sysfs_root: str | os.PathLike[str] = "/sys", addresses: list[str] | None = None) -> None:
        super().__init__()
        self.sysfs = Path(sysfs_root)
        self.addresses = addresses
        self._sensors: list[tuple[str, OpenFile, float]] = []  # (field, file, divisor)
        self._fields: list[FieldSpec] = []
        self.cards: list[str] = []

    def _probe(self) -> Availability:
        devices = self.sysfs / "bus/pci/devices"
        if not devices.is_dir():
            return Availability(False, f"no PCI devices directory at {devices}")
        for dev in sorted(devices.iterdir()):
            if self.addresses is not None and dev.name not in self.addresses:
                continue
            try:
                vendor = (dev / "vendor").read_text().strip().lower()
            except OSError:
                continue
            if vendor in FPGA_PCI_VENDORS:
                self.cards.append(dev.name)
        if not self.cards:
            return Availability(False, "no FPGA card (PCI vendor 0x10ee or 0x1172) on this host")
        for i, addr in enumerate(self.cards):
            for hw in sorted((devices / addr / "hwmon").glob("hwmon*")):
                for f in sorted(hw.iterdir()):
                    m = _SENSOR_FILE.fullmatch(f.name)
                    if not m:
                        continue
                    kind, num, which = m.groups()
                    suffix, unit, div = _SENSORS[kind]
                    name = f"fpga{i}_{kind}{num}_{suffix}" if which == "input" else f"fpga{i}_{kind}{num}_avg_{suffix}"
                    self._sensors.append((name, OpenFile(f, 64), div))
                    self._fields.append(FieldSpec(name, unit))
        if not self._sensors:
            return Availability(False,
                                f"FPGA cards {self.cards} expose no hwmon sensors (is the card's driver loaded?)")
        return Availability(True, f"{len(self._sensors)} sensors on {', '.join(self.cards)}")

    def fields(self) -> list[FieldSpec]:
        return list(self._fields)

    def sample(self) -> dict[str, Number]:
        out: dict[str, Number] = {}
        for name, f, div in self._sensors:
            try:
                out[name] = f.read_int() / div
            except (OSError, ValueError):  # a sensor may be momentarily unreadable (EAGAIN/ENODATA): skip it
                continue
        return out

    def close(self) -> None:
        close_all([f for _, f, _ in self._sensors])
        self._sensors = []
