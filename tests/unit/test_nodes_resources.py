"""Node specs: CPU sets, memory sizes, names and pools, and the fit against this machine's CPUs (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchfarm.nodes.errors import NodeSpecError
from benchfarm.nodes.model import MIN_MEMORY, NodeSpec
from benchfarm.nodes.resources import format_cpu_list, format_size, host_cpus, parse_cpu_list, parse_memory


@pytest.mark.parametrize(("text", "cpus"), [
    ("0", {0}), ("0-1", {0, 1}), ("0,2-3", {0, 2, 3}), (" 1 ", {1}), ("3,1,2", {1, 2, 3}), ("0-0", {0}),
])
def test_cpu_lists_parse(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "3-1", "0,,1", "1.5"])
def test_bad_cpu_lists_are_refused_with_the_fix(text: str) -> None:
    with pytest.raises(NodeSpecError) as err:
        parse_cpu_list(text)
    assert err.value.hint


@pytest.mark.parametrize(("cpus", "text"), [({0}, "0"), ({0, 1, 2, 5}, "0-2,5"), ({3, 1}, "1,3"), (set(), "")])
def test_cpu_lists_format_canonically(cpus: set[int], text: str) -> None:
    assert format_cpu_list(cpus) == text


@pytest.mark.parametrize(("text", "size"), [
    ("1g", 1 << 30), ("1GiB", 1 << 30), ("512m", 512 << 20), ("512MB", 512 << 20), (2 << 30, 2 << 30),
    ("1073741824", 1 << 30),
])
def test_memory_sizes_parse(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1g", "0", "1x"])
def test_bad_memory_sizes_are_refused(text: str) -> None:
    with pytest.raises(NodeSpecError):
        parse_memory(text)


@pytest.mark.parametrize(("n", "text"), [(1 << 30, "1GiB"), (1536 << 20, "1536MiB"), (1000, "1000B")])
def test_sizes_format_in_the_largest_whole_unit(n: int, text: str) -> None:
    assert format_size(n) == text


def test_machine_cpus_come_from_the_root_cpuset(tmp_path: Path) -> None:
    (tmp_path / "fs/cgroup/cpuset").mkdir(parents=True)
    (tmp_path / "fs/cgroup/cpuset/cpuset.effective_cpus").write_text("0-3\n")
    assert host_cpus(tmp_path) == {0, 1, 2, 3}


def test_machine_cpus_on_cgroup_v2_and_without_cpuset(tmp_path: Path) -> None:
    (tmp_path / "fs/cgroup").mkdir(parents=True)
    (tmp_path / "fs/cgroup/cpuset.cpus.effective").write_text("0-1,4\n")
    assert host_cpus(tmp_path) == {0, 1, 4}
    bare = tmp_path / "bare"
    (bare / "devices/system/cpu").mkdir(parents=True)
    (bare / "devices/system/cpu/online").write_text("0-7\n")
    assert host_cpus(bare) == set(range(8))


def test_node_spec_from_command_line_values() -> None:
    spec = NodeSpec.parse("n1", "pool-a", "1", "2g")
    assert (spec.cpus, spec.memory, spec.cpuset) == ({1}, 2 << 30, "1")
    assert spec.container_name == "benchfarm-node-n1"
    assert spec.volume_name == "benchfarm-node-n1-docker"
    assert spec.labels() == {"benchfarm.node": "n1", "benchfarm.pool": "pool-a", "benchfarm.node.cpus": "1",
                             "benchfarm.node.memory": str(2 << 30)}


@pytest.mark.parametrize(("name", "pool", "cpus", "memory", "says"), [
    ("N1", "a", "0", "1g", "not a valid node name"),
    ("-n", "a", "0", "1g", "not a valid node name"),
    ("n_1", "a", "0", "1g", "not a valid node name"),
    ("x" * 33, "a", "0", "1g", "not a valid node name"),
    ("n1", "A B", "0", "1g", "not a valid pool name"),
    ("n1", "a", "0", "256m", "too little for a node"),
    ("n1", "a", "2-1", "1g", "runs backwards"),
])
def test_bad_node_specs_say_what_is_wrong(name: str, pool: str, cpus: str, memory: str, says: str) -> None:
    with pytest.raises(NodeSpecError) as err:
        NodeSpec.parse(name, pool, cpus, memory)
    assert says in err.value.message
    assert err.value.hint


def test_the_minimum_memory_is_accepted() -> None:
    assert NodeSpec.parse("n1", "a", "0", MIN_MEMORY).memory == MIN_MEMORY


def test_a_cpu_set_outside_the_machine_is_refused() -> None:
    spec = NodeSpec.parse("n1", "a", "1-3", "1g")
    spec.check_fits({0, 1, 2, 3})
    with pytest.raises(NodeSpecError) as err:
        spec.check_fits({0, 1})
    assert "outside this machine's CPUs 0-1 (no CPU 2-3)" in err.value.message
    assert err.value.exit_code == 2
