"""The spec's small value parsers: sizes, cpusets, image references, capabilities, regexes."""

from __future__ import annotations

import re

import pytest

from benchfarm.spec.fields import (
    check_cpuset,
    check_image_reference,
    check_regex,
    cpuset_cpus,
    normalize_capability,
    parse_size,
)


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 << 20), ("2g", 2 << 30), ("2G", 2 << 30), ("1.5GiB", int(1.5 * (1 << 30))), ("64k", 64 << 10),
    ("64kb", 64 << 10), ("1t", 1 << 40), ("100", 100), ("100b", 100), (" 2 g ", 2 << 30), (1048576, 1048576),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad,message", [
    ("lots", "is not a size"), ("12 parsecs", "is not a size"), ("-1m", "is not a size"), ("1ib", "is not a size"),
    ("2gg", "is not a size"), ("", "is not a size"), ("0", "must be positive"), (0, "must be positive"),
    (-5, "must be positive"), (True, "is not a size"), (1.5, "is not a size"), (None, "is not a size"),
])
def test_bad_sizes(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_size(bad)


@pytest.mark.parametrize("cpuset,normal,cpus", [
    ("0", "0", [0]), ("0-3", "0-3", [0, 1, 2, 3]), ("0-1,6", "0-1,6", [0, 1, 6]), ("2, 4-5", "2,4-5", [2, 4, 5]),
    ("1,1-2", "1,1-2", [1, 2]), ("7-7", "7-7", [7]),
])
def test_cpusets(cpuset, normal, cpus):
    assert check_cpuset(cpuset) == normal
    assert cpuset_cpus(normal) == cpus


@pytest.mark.parametrize("bad,message", [
    ("0-", "is not a cpuset"), ("a", "is not a cpuset"), ("1,,2", "is not a cpuset"), ("-1", "is not a cpuset"),
    ("", "is not a cpuset"), ("0-3,", "is not a cpuset"), ("5-2", "runs backwards (write 2-5)"),
])
def test_bad_cpusets(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_cpuset(bad)


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("ref", [
    "busybox", "benchfarm/sysbench:latest", "benchfarm/sysbench:1.0.0", "localhost:5000/benchfarm/fio:v1",
    "registry.example.com/team/app", f"benchfarm/sysbench@{DIGEST}", f"registry:5000/benchfarm/sysbench:1.0@{DIGEST}",
    "benchfarm-test/busybox:latest", "a__b/c-d.e:Tag_1.x", DIGEST, "[::1]:5000/x:y",
    "pytorch/pytorch:2.4.1-cuda12.4-cudnn9-runtime",
])
def test_image_references(ref):
    assert check_image_reference(ref) == ref


@pytest.mark.parametrize("bad,message", [
    ("", "is not an image reference"), ("Benchfarm/Sysbench", "repository names are lower case"),
    ("a b", "contains whitespace"), ("x@sha256:abc", "a digest is written"), ("x:", "is not an image reference"),
    ("x:a:b", "is not an image reference"), ("-x", "is not an image reference"), ("x/", "is not an image reference"),
    (f"x@{DIGEST[:-2]}", "64 hex digits, this one has 62"), ("x:" + "t" * 129, "is not an image reference"),
])
def test_bad_image_references(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_image_reference(bad)


@pytest.mark.parametrize("given,expected", [
    ("SYS_NICE", "SYS_NICE"), ("sys_nice", "SYS_NICE"), ("CAP_NET_RAW", "NET_RAW"), ("cap_perfmon", "PERFMON"),
    ("ALL", "ALL"),
])
def test_capabilities(given, expected):
    assert normalize_capability(given) == expected


@pytest.mark.parametrize("bad,message", [
    ("SYS_NICEE", "did you mean SYS_NICE"), ("ROOT", "see capabilities"), ("", "is not a Linux capability"),
])
def test_bad_capabilities(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        normalize_capability(bad)


@pytest.mark.parametrize("pattern,ok", [("H100|A100", True), ("EPYC 7[0-9]{3}", True), (None, True),
                                        ("EPYC(", False), ("*u250", False), ("[", False)])
def test_regexes(pattern, ok):
    if ok:
        assert check_regex(pattern) == pattern
    else:
        with pytest.raises(ValueError, match="is not a valid regular expression"):
            check_regex(pattern)
