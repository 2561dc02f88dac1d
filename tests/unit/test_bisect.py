"""Bisection logic with fake jobs: the judgement rule, the search, added repetitions, reuse and resumption."""

from __future__ import annotations

import numpy as np
import pytest

from benchfarm.bisect.decide import ends_differ, judge
from benchfarm.bisect.model import BisectState, RevisionImage, bisect_id
from benchfarm.bisect.runner import Bisector, revision_images
from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.images.labels import REVISION
from benchfarm.images.model import ImageInfo
from benchfarm.jobs.model import JobRecord, JobStatus


def test_judge_needs_both_position_and_significance():
    good, bad = [100, 101, 99, 100, 102], [150, 151, 149, 152, 150]
    assert ends_differ(good, bad, "lower", 0.05)[0]
    assert not ends_differ(bad, good, "lower", 0.05)[0]  # better, not worse
    assert judge(good, bad, [149, 151, 150, 148, 152], "lower", 0.05).side == "bad"
    assert judge(good, bad, [100, 99, 101, 100, 102], "lower", 0.05).side == "good"
    assert judge(good, bad, [100, 150], "lower", 0.05).side == "undecided"  # two values: no test reaches 0.05


class FakeFarm:
    """Jobs whose metric is drawn around each revision's level; results are read back by digest."""

    def __init__(self, levels: dict[str, float], noise: float = 1.0, seed: int = 0,
                 scripted: dict[str, list[list[float]]] | None = None) -> None:
        self.levels, self.noise, self.rng = levels, noise, np.random.default_rng(seed)
        self.scripted = scripted or {}  # digest -> the values of its next jobs, in order
        self.done: dict[str, tuple[str, list[float]]] = {}  # job id -> (digest, values)
        self.specs: dict[str, dict] = {}
        self.saved: list[BisectState] = []

    def submit(self, spec: dict) -> str:
        job_id = f"job-{len(self.specs)}"
        self.specs[job_id] = spec
        return job_id

    def wait(self, job_id: str) -> JobRecord:
        spec = self.specs[job_id]
        digest = f"sha256:{spec['image'].split(':')[-1]}"
        if self.scripted.get(digest):
            values = self.scripted[digest].pop(0)
        else:
            values = list(self.levels[digest] + self.rng.normal(0, self.noise, spec["repetitions"]))
        self.done[job_id] = (digest, values)
        return JobRecord.model_construct(id=job_id, status=JobStatus.SUCCEEDED, reason=None)

    def values(self, spec_name: str, digest: str, metric: str) -> list[float]:
        return [v for d, vals in self.done.values() if d == digest for v in vals]

    def load(self, bisect_id: str) -> BisectState | None:
        return self.saved[-1] if self.saved else None

    def save(self, state: BisectState) -> None:
        self.saved.append(state.model_copy(deep=True))


def _state(n: int = 8) -> BisectState:
    revs = [RevisionImage(revision=f"r{i}", image_ref=f"img:r{i}", digest=f"sha256:r{i}") for i in range(1, n + 1)]
    return BisectState(id=bisect_id("b", "ms", [r.revision for r in revs]), spec={"name": "b"}, metric="ms",
                       direction="lower", revisions=revs)


def test_finds_the_first_bad_revision_in_log2_steps_and_reuses_everything_after():
    farm = FakeFarm({f"sha256:r{i}": (200.0 if i >= 5 else 100.0) for i in range(1, 9)})
    state = Bisector(farm, farm, farm).run(_state())
    assert (state.first_bad, state.last_good) == ("r5", "r4")
    assert [s.revision for s in state.steps] == ["r4", "r6", "r5"]
    assert len(farm.specs) == 5 and not state.pending
    again = Bisector(farm, farm, farm).run(_state())
    assert again.first_bad == "r5" and len(farm.specs) == 5  # every value reused: no job


def test_an_undecided_step_gets_more_repetitions():
    # r4's first job straddles both ends (median half-way, not significant against either): undecided; its
    # second job settles it as good
    levels = {f"sha256:r{i}": (200.0 if i >= 5 else 100.0) for i in range(1, 9)}
    farm = FakeFarm(levels, scripted={"sha256:r4": [[100, 200, 100, 200, 150], [100, 101, 99, 100, 100]]})
    state = Bisector(farm, farm, farm).run(_state())
    assert state.first_bad == "r5"
    r4_jobs = [s["repetitions"] for s in farm.specs.values() if s["image"] == "img:r4"]
    assert r4_jobs == [5, 5]
    (r4,) = [s for s in state.steps if s.revision == "r4"]
    assert r4.side == "good" and r4.n == 10


def test_ends_that_do_not_differ_are_refused():
    farm = FakeFarm({f"sha256:r{i}": 100.0 for i in range(1, 9)})
    with pytest.raises(UserInputError, match="not significantly worse"):
        Bisector(farm, farm, farm, max_reps=10).run(_state())


def test_a_pending_job_is_waited_for_not_submitted_again():
    farm = FakeFarm({f"sha256:r{i}": (200.0 if i >= 5 else 100.0) for i in range(1, 9)})
    state = _state()
    job_id = farm.submit({"image": "img:r1", "repetitions": 5})  # submitted before an interruption
    state.pending["r1"] = job_id
    state = Bisector(farm, farm, farm).run(state)
    assert state.first_bad == "r5"
    assert [s["image"] for s in farm.specs.values()].count("img:r1") == 1


class Images:
    def __init__(self, infos: list[ImageInfo]) -> None:
        self.infos = infos

    def list(self, label: str | None = None) -> list[ImageInfo]:
        key, value = (label or "").split("=", 1)
        return [i for i in self.infos if i.labels.get(key) == value]


def test_revision_images_by_label_in_the_repository_newest_first():
    def info(i: str, tag: str, rev: str, created: str) -> ImageInfo:
        return ImageInfo(id=i, tags=[tag], repo_digests=[], labels={REVISION: rev}, created=created)

    images = Images([info("sha256:a", "bench:r1", "r1", "2026-01-01"),
                     info("sha256:b", "bench:r1b", "r1", "2026-01-02"),
                     info("sha256:c", "other:r2", "r2", "2026-01-01"),
                     info("sha256:d", "bench:r2", "r2", "2026-01-01")])
    found = revision_images(images, "bench", ["r1", "r2"])
    assert [(r.image_ref, r.digest) for r in found] == [("bench:r1b", "sha256:b"), ("bench:r2", "sha256:d")]
    with pytest.raises(NotFoundError):
        revision_images(images, "bench", ["r3"])


def test_git_orders_the_revisions_from_good_to_bad(tmp_path):
    import subprocess

    from benchfarm.cli.bisect_cmd import _ordered

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    commits = []
    for i in range(4):
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", f"c{i}")
        commits.append(git("rev-parse", "HEAD"))
    assert _ordered(commits[1], commits[3], None, tmp_path) == commits[1:]
    assert _ordered("r2", "r4", "r1,r2,r3,r4,r5", None) == ["r2", "r3", "r4"]
    with pytest.raises(UserInputError):
        _ordered("r4", "r2", "r1,r2,r3,r4", None)
    with pytest.raises(UserInputError):
        _ordered(commits[3], "no-such-commit", None, tmp_path)


class FakeRegistry:
    """Tags of one repository with their manifest digests and image configs."""

    address = "127.0.0.1:15000"

    def __init__(self, images: dict[str, tuple[str, str, str]]) -> None:
        self.images = images  # tag -> (revision label, created, config digest)

    def tags(self, name: str) -> list[str]:
        return sorted(self.images) if name == "team/loop" else []

    def manifest_digest_and_config(self, name: str, tag: str) -> tuple[str, dict]:
        rev, created, config = self.images[tag]
        return f"sha256:m-{tag}", {"id": config, "labels": {REVISION: rev} if rev else {}, "created": created}


def test_registry_revisions_are_found_by_label_named_by_manifest_digest_and_the_newest_rebuild_wins():
    from benchfarm.bisect.runner import registry_revision_images

    registry = FakeRegistry({"r1": ("r1", "2026-01-01", "sha256:c1"), "r2": ("r2", "2026-01-02", "sha256:c2"),
                             "r2-rebuilt": ("r2", "2026-02-01", "sha256:c2b"), "latest": ("r2", "2025-12-01", "x"),
                             "unlabelled": ("", "2026-01-03", "sha256:c9")})
    found = registry_revision_images(registry, "team/loop", ["r1", "r2"])
    assert [(r.revision, r.image_ref, r.digest) for r in found] == [
        ("r1", "127.0.0.1:15000/team/loop@sha256:m-r1", "sha256:c1"),
        ("r2", "127.0.0.1:15000/team/loop@sha256:m-r2-rebuilt", "sha256:c2b")]
    with pytest.raises(NotFoundError, match="r3") as e:
        registry_revision_images(registry, "team/loop", ["r1", "r3"])
    assert "--images engine" in e.value.hint
    with pytest.raises(NotFoundError, match="r1"):
        registry_revision_images(registry, "team/other", ["r1"])
