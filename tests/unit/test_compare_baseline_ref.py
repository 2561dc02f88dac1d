"""Parsing --baseline references into typed models (table-driven)."""

from __future__ import annotations

import pytest

from benchfarm.analysis.baseline_ref import GitRef, JobRef, LabelRef, LatestRef, parse_baseline_ref
from benchfarm.errors import UserInputError

VALID = [
    ("job-7f3a9c", JobRef("job-7f3a9c"), "job-7f3a9c"),
    ("  job-20260101_a.b-c  ", JobRef("job-20260101_a.b-c"), "job-20260101_a.b-c"),
    ("6F1C2B9E-0D1A-4C5B-9E7F-123456789ABC", JobRef("6f1c2b9e-0d1a-4c5b-9e7f-123456789abc"),
     "6f1c2b9e-0d1a-4c5b-9e7f-123456789abc"),
    ("latest", LatestRef(), "latest"),
    ("LATEST", LatestRef(), "latest"),
    ("label:release=2.1", LabelRef("release", "2.1"), "label:release=2.1"),
    ("label:ci.build_url=https://ci.example/job/x/12/?a=b", LabelRef("ci.build_url", "https://ci.example/job/x/12/?a=b"),
     None),
    ("main@3f2c1ab", GitRef("main", "3f2c1ab"), "main@3f2c1ab"),
    ("release/2.1@v2.1.0", GitRef("release/2.1", "v2.1.0"), "release/2.1@v2.1.0"),
    ("feature-x@" + "a" * 40, GitRef("feature-x", "a" * 40), None),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), VALID, ids=[v[0].strip() or "blank" for v in VALID])
def test_valid_references(text: str, expected: object, canonical: str | None) -> None:
    ref = parse_baseline_ref(text)
    assert ref == expected
    assert str(ref) == (canonical or text.strip())
    assert parse_baseline_ref(str(ref)) == ref  # canonical form round-trips


INVALID = [
    "",
    "   ",
    "job-",
    "7f3a9c",
    "label:",
    "label:release",
    "label:=2.1",
    "label:bad key=1",
    "label:k=bad\x01value",
    "main@",
    "@abc123",
    "main@abc@def",
    "main@HEAD~1",
    "ma in@abc",
    "main@a..b",
    "main@refs/heads/x.lock",
    "/main@abc",
    "main@@{1}",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_references_raise_with_hint(text: str) -> None:
    with pytest.raises(UserInputError) as err:
        parse_baseline_ref(text)
    assert err.value.hint


def test_kinds_are_distinct_for_dispatch() -> None:
    kinds = {parse_baseline_ref(t).kind for t in ("job-1", "latest", "label:a=b", "main@abc")}
    assert kinds == {"job", "latest", "label", "git"}
