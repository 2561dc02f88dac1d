"""Provenance labels: the full key set, stable values, round trip."""

from __future__ import annotations

import json

import pytest

from benchfarm.images import labels as L


def _prov(**over) -> L.Provenance:
    base = {
        "name": "sysbench", "version": "1.0.0", "description": "cpu", "source": "images/sysbench",
        "source_time": "2026-11-23T07:52:37Z", "git_commit": "abc123", "git_dirty": False, "build_host": "vm",
        "build_cause": "manual", "ci_tag": "", "base_name": "benchfarm/base:bookworm-1", "base_digest": "sha256:bb",
        "ancestors": ("sha256:aa", "sha256:bb"), "benchmark": {"name": "sysbench", "metrics": [{"name": "eps"}]},
        "start": ("/usr/local/bin/run-sysbench",), "validate": ("/usr/local/bin/validate",),
    }
    base.update(over)
    return L.Provenance(**base)


OCI_KEYS = {f"org.opencontainers.image.{k}" for k in
            ("created", "revision", "source", "version", "title", "description", "base.digest", "base.name")}
BF_KEYS = {f"benchfarm.{k}" for k in ("git.commit", "git.dirty", "build.host", "build.cause", "build.ci_tag",
                                      "ancestors", "benchmark", "start", "validate")}


def test_every_required_label_is_present_as_a_string() -> None:
    labels = L.build_labels(_prov())
    assert set(labels) >= OCI_KEYS | BF_KEYS
    assert all(isinstance(v, str) for v in labels.values())
    assert json.loads(labels[L.ANCESTORS]) == ["sha256:aa", "sha256:bb"]
    assert labels[L.GIT_DIRTY] == "false"
    assert labels[L.CREATED] == "2026-11-23T07:52:37Z"


def test_equal_inputs_give_identical_labels_and_inputs_change_them() -> None:
    a, b = L.build_labels(_prov()), L.build_labels(_prov(benchmark={"metrics": [{"name": "eps"}], "name": "sysbench"}))
    assert a == b  # key order in the metadata does not matter
    assert L.build_labels(_prov(build_cause="ci", ci_tag="jenkins-7"))[L.BUILD_CI_TAG] == "jenkins-7"
    assert L.build_labels(_prov(git_dirty=True))[L.GIT_DIRTY] == "true"


def test_unknown_cause_is_refused() -> None:
    with pytest.raises(ValueError, match="manual, ci, timer"):
        L.build_labels(_prov(build_cause="cron"))


def test_parse_labels_round_trips() -> None:
    labels = L.build_labels(_prov(extra={"benchfarm.test": "1"}))
    p = L.parse_labels("sha256:cc", labels)
    assert (p.name, p.version, p.git_commit, p.base_digest) == ("sysbench", "1.0.0", "abc123", "sha256:bb")
    assert p.ancestors == ["sha256:aa", "sha256:bb"]
    assert p.start == ["/usr/local/bin/run-sysbench"]
    assert p.benchmark["metrics"] == [{"name": "eps"}]


def test_parse_labels_of_an_unlabelled_image_is_empty() -> None:
    p = L.parse_labels("sha256:dd", None)
    assert p.ancestors == [] and p.name == "" and p.git_dirty is False
