"""Power of the farm's verdict, measured: A/A false alarms and detection of planted 2%, 5% and 10% slowdowns.

Part 1, real jobs (on the running one-host farm, through its API, on the machine's own worker): a busybox
CPU-time loop pinned to CPU 1, as tests/integration/test_verdicts.py runs it (CPU ticks of its own process,
10 ms resolution; lower is better). ``--baselines`` jobs of the base length and one job each at +2%, +5%
and +10% iterations. Every pair of base jobs is an A/A comparison; every (base, slow) pair a planted one;
each is judged by ``benchfarm.analysis.compare.compare_metric`` (the verdict ``benchfarm compare`` gives)
on the first n measured repetitions of each job, for several n.

Part 2, simulation with the noise part 1 measured, for large counts: a job's repetition values are its
level times one plus a within-job residual, drawn from the residuals the real jobs had around their own
median; a job's level moves by a between-job factor with the standard deviation the base jobs' medians
had (the machine drifts between jobs, not only between repetitions). ``--trials`` comparisons per cell.

Rates carry 95% Wilson intervals (scipy's ``binomtest(...).proportion_ci(method="wilson")``). The farm's
default verdict needs a change beyond ``max_regression_pct`` (5%) and p < 0.05, so a planted 5% slowdown
sits on the threshold itself; ``--threshold`` shows the power at another one.

The machine is shared (2 cores; Elasticsearch, Salt, the worker and other sessions' tests compete for
them): the noise measured is real-world noisy, and another run measures a different machine state.

``--interleaved`` measures the protocol of ``benchfarm ab`` instead: single-repetition jobs of two base
kinds and the three slowed kinds in rounds, the order rotating every round, so every kind samples the same
machine states (benchfarm.interleaved.runner). A comparison at n takes n consecutive rounds of two kinds
(disjoint windows, both base kinds as baseline); the simulation draws every job's value independently from
the distribution of all real values around their kind's median, so drift within the run counts as noise and
the interleaving gets no credit for it there (conservative). The default threshold is then ``benchfarm ab``'s
(3%).

Run (about 5 minutes with --quick, with the farm up)::

    python bench/verdict_power.py --quick
    python bench/verdict_power.py --baselines 4 --reps 12 --trials 600 --threshold 2.5
    python bench/verdict_power.py --interleaved --rounds 30 --trials 1000
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from benchfarm.analysis.compare import REGRESSED, compare_metric

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the tests' support modules
from tests.support.calibrated_loop import SCRIPT as CALIBRATED_SCRIPT
from tests.support.calibrated_loop import calibrated_env

SLOWDOWNS = (0.02, 0.05, 0.10)
SCRIPT = (
    't(){ set -- $(cat /proc/$$/stat); echo $(( ${14} + ${15} )); }; '
    's=$(t); i=0; while [ $i -lt $N ]; do i=$((i+1)); done; e=$(t); '
    'echo "{\\"ms\\": $(( (e-s)*10 ))}"'
)
FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Rate:
    hits: int
    total: int

    def text(self) -> str:
        if not self.total:
            return "-"
        ci = stats.binomtest(self.hits, self.total).proportion_ci(confidence_level=0.95, method="wilson")
        return f"{self.hits / self.total:6.1%} [{ci.low:5.1%}, {ci.high:5.1%}] ({self.hits}/{self.total})"


def _spec(image: str, name: str, iterations: int, reps: int, *, calibrated: bool = False,
          reference: int = 0, warmup: int = 1) -> dict:
    env = calibrated_env(iterations, reference) if calibrated else {"N": str(iterations)}
    return {"name": name, "image": image, "command": ["sh", "-c", CALIBRATED_SCRIPT if calibrated else SCRIPT],
            "env": env, "resources": {"cpuset": "1"}, "warmup": warmup, "repetitions": reps, "timeout_s": 600,
            "results": {"format": "json-lines", "metrics": {"ms": {"unit": "ms", "direction": "lower"}}}}


def _farm_and_image():
    """(the farm's API client, the tests' busybox image, built when missing)."""
    import docker

    from benchfarm.client import ApiClient
    from benchfarm.settings import get_settings
    from tests.support.busybox import ensure_busybox_image

    settings = get_settings()
    return ApiClient.from_settings(settings), ensure_busybox_image(docker.DockerClient(base_url=settings.docker_url))


def run_real_jobs(iterations: int, reps: int, baselines: int, calibrated: bool = False) -> dict[str, list[list[float]]]:
    """Submit the jobs (one at a time: they share CPU 1) and return kind -> per-job measured values."""
    api, image = _farm_and_image()
    tag = uuid.uuid4().hex[:6]
    plan = [("base", iterations)] * baselines + [(f"+{s:.0%}", round(iterations * (1 + s))) for s in SLOWDOWNS]
    out: dict[str, list[list[float]]] = {}
    for i, (kind, n) in enumerate(plan):
        t0 = time.monotonic()
        spec = _spec(image, f"h15-power-{tag}", n, reps, calibrated=calibrated, reference=iterations)
        job_id = api.submit(spec, queue_anyway=False)["id"]
        values = _wait_values(api, job_id)
        out.setdefault(kind, []).append(values)
        print(f"  job {i + 1}/{len(plan)} {kind:>5} N={n}: {job_id} median {statistics.median(values):.0f} ms "
              f"({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


def _wait_values(api, job_id: str) -> list[float]:
    while (job := api.job(job_id))["status"] not in FINAL:
        time.sleep(0.2)
    if job["status"] != "succeeded":
        sys.exit(f"job {job_id} {job['status']}: {job.get('reason')}")
    return [float(r["metrics"]["ms"]) for r in job["repetitions"] if not r["warmup"]]


def run_interleaved_jobs(iterations: int, rounds: int, calibrated: bool = False) -> dict[str, list[float]]:
    """Rounds of one single-repetition job per kind, the order rotating; kind -> one value per round.

    ``calibrated``: the benchmark times its loop against a reference loop of the base length (no warm-up).
    """
    api, image = _farm_and_image()
    tag = uuid.uuid4().hex[:6]
    kinds = [("base", iterations), ("base2", iterations)] + [(f"+{s:.0%}", round(iterations * (1 + s)))
                                                             for s in SLOWDOWNS]
    out: dict[str, list[float]] = {k: [] for k, _ in kinds}
    t0 = time.monotonic()
    for r in range(rounds):
        shift = r % len(kinds)
        for kind, n in kinds[shift:] + kinds[:shift]:
            spec = _spec(image, f"h15-power-ab-{tag}", n, 1, calibrated=calibrated, reference=iterations,
                         warmup=0 if calibrated else 1)
            job_id = api.submit(spec, queue_anyway=False)["id"]
            out[kind] += _wait_values(api, job_id)
        print(f"  round {r + 1}/{rounds}: " + " ".join(f"{k}={v[-1]:.0f}" for k, v in out.items())
              + f" ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


def replayed_rounds(log: Path) -> dict[str, list[float]]:
    """kind -> values from the ``round i/R: base=... base2=...`` lines a run printed."""
    out: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        if line.strip().startswith("round ") and "base=" in line:
            for word in line.split(":", 1)[1].split():
                if "=" in word:
                    kind, value = word.split("=", 1)
                    out.setdefault(kind, []).append(float(value))
    if not out.get("base"):
        sys.exit(f"{log}: no round lines of an interleaved run")
    return out


def interleaved_real_table(streams: dict[str, list[float]], counts: list[int], threshold: float) -> None:
    rounds = len(streams["base"])
    print(f"\nReal interleaved jobs: verdicts on n rounds (disjoint windows of {rounds} rounds; "
          f"threshold {threshold}%, alpha 0.05)")
    slow = [k for k in streams if k.startswith("+")]
    print(f"{'n':>3} | {'A/A false alarms':>32} | " + " | ".join(f"{'detected ' + k:>32}" for k in slow))
    for n in counts:
        windows = [slice(i, i + n) for i in range(0, rounds - n + 1, n)]
        aa = Rate(0, 0)
        cells = {k: Rate(0, 0) for k in slow}
        for w in windows:
            for a, b in (("base", "base2"), ("base2", "base")):
                aa.total += 1
                aa.hits += _regressed(streams[a][w], streams[b][w], threshold, seed=n)
                for k in slow:
                    cells[k].total += 1
                    cells[k].hits += _regressed(streams[a][w], streams[k][w], threshold, seed=n)
        print(f"{n:>3} | {aa.text():>32} | " + " | ".join(f"{cells[k].text():>32}" for k in slow))


def interleaved_simulated_table(streams: dict[str, list[float]], counts: list[int], trials: int,
                                threshold: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    residuals = np.concatenate([np.asarray(v) / statistics.median(v) - 1 for v in streams.values()])
    level = statistics.median(streams["base"] + streams["base2"])
    # the raw loop reads 10 ms ticks; the calibrated one prints whole thousandths of the reference
    resolution = -1 if all(v % 10 == 0 for vs in streams.values() for v in vs) else 0
    print(f"\nSimulation, every job's value drawn independently from the {residuals.size} real values around "
          f"their kind's median (sd {np.std(residuals, ddof=1):.2%}): {trials} comparisons per cell "
          f"(threshold {threshold}%, alpha 0.05)")

    def side(n: int, slowdown: float) -> np.ndarray:
        return np.round(level * (1 + slowdown) * (1 + rng.choice(residuals, size=n)), resolution)

    _simulated_rows(side, counts, trials, threshold)


def _regressed(base: list[float] | np.ndarray, cand: list[float] | np.ndarray, threshold: float, seed: int) -> bool:
    return compare_metric(base, cand, direction="lower", max_regression_pct=threshold, seed=seed).verdict == REGRESSED


def real_table(jobs: dict[str, list[list[float]]], counts: list[int], threshold: float) -> None:
    bases = jobs["base"]
    print(f"\nReal jobs: verdicts on the first n measured repetitions (threshold {threshold}%, alpha 0.05)")
    print(f"{'n':>3} | {'A/A false alarms':>32} | " + " | ".join(f"{'detected ' + k:>32}" for k in jobs if k != "base"))
    for n in counts:
        aa = Rate(0, 0)
        for a, b in itertools.permutations(bases, 2):
            aa.total += 1
            aa.hits += _regressed(a[:n], b[:n], threshold, seed=n)
        cells = []
        for kind, slow in jobs.items():
            if kind == "base":
                continue
            r = Rate(0, 0)
            for a in bases:
                r.total += 1
                r.hits += _regressed(a[:n], slow[0][:n], threshold, seed=n)
            cells.append(r.text())
        print(f"{n:>3} | {aa.text():>32} | " + " | ".join(f"{c:>32}" for c in cells))


def measured_noise(jobs: dict[str, list[list[float]]]) -> tuple[np.ndarray, float]:
    """(within-job relative residuals of every job, between-job relative sd of the base jobs' medians)."""
    residuals = np.concatenate([np.asarray(v) / statistics.median(v) - 1 for vs in jobs.values() for v in vs])
    medians = [statistics.median(v) for v in jobs["base"]]
    between = float(np.std(medians, ddof=1) / np.mean(medians)) if len(medians) > 1 else 0.0
    return residuals, between


def simulated_table(residuals: np.ndarray, between: float, level: float, counts: list[int], trials: int,
                    threshold: float, seed: int, resolution: int) -> None:
    """``resolution``: decimals of a simulated value (-1: the raw loop's 10 ms ticks)."""
    rng = np.random.default_rng(seed)
    print(f"\nSimulation with the measured noise: {trials} comparisons per cell (threshold {threshold}%, alpha 0.05)")

    def job(n: int, slowdown: float) -> np.ndarray:
        shift = 1 + rng.normal(0, between)
        values = level * shift * (1 + slowdown) * (1 + rng.choice(residuals, size=n))
        return np.round(values, resolution)

    _simulated_rows(job, counts, trials, threshold)


def _simulated_rows(draw, counts: list[int], trials: int, threshold: float) -> None:
    """One row per n: the rate of "regressed" verdicts of draw(n, 0) against draw(n, slowdown), per slowdown."""
    print(f"{'n':>3} | {'A/A false alarms':>32} | " + " | ".join(f"{'detected +' + f'{s:.0%}':>32}"
                                                                for s in SLOWDOWNS))
    for n in counts:
        cells = []
        for slowdown in (0.0, *SLOWDOWNS):
            r = Rate(0, trials)
            for t in range(trials):
                r.hits += _regressed(draw(n, 0.0), draw(n, slowdown), threshold, seed=t)
            cells.append(r.text())
        print(f"{n:>3} | " + " | ".join(f"{c:>32}" for c in cells), flush=True)


TABLE_NOISE_PCT = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0)
TABLE_COUNTS = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50)
TABLE_CASES = ((2.0, 1.0), (5.0, 3.0), (10.0, 5.0))  # (change to catch, threshold), percent
TABLE_PATH = Path(__file__).resolve().parents[1] / "benchfarm" / "power" / "power_table.json"


def write_power_table(path: Path, residuals: np.ndarray, source: str, trials: int, seed: int,
                      cases: tuple[tuple[float, float], ...]) -> None:
    """The table adaptive repetitions read (benchfarm/power/table.py), simulated with the noise's shape.

    The measured residuals, centred on their median and scaled to unit standard deviation, give the
    shape; every cell scales it to its noise level and draws baseline and candidate values independently
    (within-job noise only: a drift between the baseline's job and the candidate's is not in the table).
    """

    from benchfarm.power.table import PowerTable

    shape = (residuals - np.median(residuals)) / np.std(residuals, ddof=1)
    rng = np.random.default_rng(seed)
    out = []
    t0 = time.monotonic()
    for effect, threshold in cases:
        detected, false_alarms = [], []
        for noise in TABLE_NOISE_PCT:
            det_row, fa_row = [], []
            for n in TABLE_COUNTS:
                def draw(change: float, n: int = n, noise: float = noise) -> np.ndarray:
                    return 1000 * (1 + change) * (1 + noise / 100 * rng.choice(shape, size=n))

                det = sum(_regressed(draw(0), draw(effect / 100), threshold, seed=t) for t in range(trials))
                fa = sum(_regressed(draw(0), draw(0), threshold, seed=t) for t in range(trials))
                det_row.append(round(det / trials, 3))
                fa_row.append(round(fa / trials, 3))
            detected.append(det_row)
            false_alarms.append(fa_row)
            print(f"  table {effect:g}%/{threshold:g}% noise {noise:g}%: "
                  + " ".join(f"{n}:{r:.2f}" for n, r in zip(TABLE_COUNTS, det_row, strict=True))
                  + f" ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
        out.append({"effect_pct": effect, "threshold_pct": threshold, "detected": detected,
                    "false_alarms": false_alarms})
    table = PowerTable.model_validate({
        "source": source, "alpha": 0.05, "trials": trials, "noise_pct": list(TABLE_NOISE_PCT),
        "counts": list(TABLE_COUNTS), "cases": out})
    path.write_text(table_json(table.model_dump()))
    print(f"\nwrote {path} ({len(cases)} cases x {len(TABLE_NOISE_PCT)} noise levels x {len(TABLE_COUNTS)} counts, "
          f"{trials} comparisons per cell)")


def table_json(table: dict) -> str:
    """The table as JSON with one line per row of rates (a diff shows which cells moved)."""
    import json

    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in table.items() if k != "cases"]
    lines.append('  "cases": [')
    for i, case in enumerate(table["cases"]):
        lines.append(f'    {{"effect_pct": {case["effect_pct"]}, "threshold_pct": {case["threshold_pct"]},')
        for key in ("detected", "false_alarms"):
            rows = ",\n".join(f"      {json.dumps(row)}" for row in case[key])
            lines.append(f'     "{key}": [\n{rows}\n     ]' + ("," if key == "detected" else ""))
        lines.append("    }" + ("," if i < len(table["cases"]) - 1 else ""))
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def _table_case(text: str) -> tuple[float, float]:
    effect, _, threshold = text.partition(":")
    try:
        return float(effect), float(threshold)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected EFFECT:THRESHOLD in percent, e.g. 5:3") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 base jobs of 8 repetitions, 200 trials per cell")
    ap.add_argument("--baselines", type=int, default=3, help="base jobs (A/A pairs: every ordered pair)")
    ap.add_argument("--reps", type=int, default=10, help="measured repetitions per real job")
    ap.add_argument("--iterations", type=int, default=400_000, help="loop length of the base job")
    ap.add_argument("--trials", type=int, default=400, help="simulated comparisons per cell")
    ap.add_argument("--threshold", type=float, default=5.0, help="max_regression_pct of the verdict (default 5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interleaved", action="store_true", help="measure `benchfarm ab`'s protocol: "
                    "single-repetition jobs of every kind in rotating rounds (threshold default 3)")
    ap.add_argument("--rounds", type=int, default=30, help="rounds of the interleaved run")
    ap.add_argument("--calibrated", action="store_true", help="the benchmark times its loop against a "
                    "reference loop in alternating slices (tests/support/calibrated_loop.py, as test_verdicts.py)")
    ap.add_argument("--replay", type=Path, metavar="LOG", help="with --interleaved: judge the rounds an earlier "
                    "run printed (its stderr saved in LOG) instead of running jobs")
    ap.add_argument("--write-table", nargs="?", type=Path, const=TABLE_PATH, metavar="PATH",
                    help="write the power table adaptive repetitions read, simulated with the shape of this run's "
                    f"noise (default path: {TABLE_PATH.relative_to(TABLE_PATH.parents[2])})")
    ap.add_argument("--table-case", type=_table_case, action="append", metavar="EFFECT:THRESHOLD",
                    help="a (change, threshold) row of the table, in percent (default: 2:1, 5:3 and 10:5)")
    args = ap.parse_args()
    cases = tuple(args.table_case or TABLE_CASES)
    if args.interleaved:
        from benchfarm.interleaved.runner import DEFAULT_AB_MAX_REGRESSION_PCT

        threshold = args.threshold if "--threshold" in sys.argv else DEFAULT_AB_MAX_REGRESSION_PCT
        if args.replay:
            streams = replayed_rounds(args.replay)
        else:
            print(f"interleaved: {args.rounds} rounds of {2 + len(SLOWDOWNS)} single-repetition jobs, "
                  f"N={args.iterations}, cpuset 1{', calibrated' if args.calibrated else ''}", file=sys.stderr)
            streams = run_interleaved_jobs(args.iterations, args.rounds, args.calibrated)
        interleaved_real_table(streams, [n for n in (5, 8, 10, 15) if n <= len(streams["base"])], threshold)
        interleaved_simulated_table(streams, [3, 5, 8, 10, 15, 20], args.trials, threshold, args.seed)
        if args.write_table:
            residuals = np.concatenate([np.asarray(v) / statistics.median(v) - 1 for v in streams.values()])
            source = " ".join(["python bench/verdict_power.py", *sys.argv[1:]])
            write_power_table(args.write_table, residuals, source, args.trials, args.seed, cases)
        return
    if args.quick:
        args.baselines, args.reps, args.trials = 2, 8, 200
    print(f"real jobs: {args.baselines} base + {len(SLOWDOWNS)} slowed, {args.reps} measured repetitions each, "
          f"N={args.iterations}, cpuset 1{', calibrated' if args.calibrated else ''}", file=sys.stderr)
    jobs = run_real_jobs(args.iterations, args.reps, args.baselines, args.calibrated)
    counts = [n for n in (3, 5, 8, 10, 12) if n <= args.reps]
    real_table(jobs, counts, args.threshold)
    residuals, between = measured_noise(jobs)
    level = statistics.median(jobs["base"][0])
    print(f"\nmeasured noise: within-job sd {np.std(residuals, ddof=1):.2%} of the job median "
          f"({residuals.size} repetitions), between-job sd of base medians {between:.2%} "
          f"({len(jobs['base'])} jobs); base median {level:.0f} ms")
    simulated_table(residuals, between, level, [3, 5, 8, 10, 15, 20, 30], args.trials, args.threshold, args.seed,
                    resolution=0 if args.calibrated else -1)
    if args.write_table:
        source = " ".join(["python bench/verdict_power.py", *sys.argv[1:]])
        write_power_table(args.write_table, residuals, source, args.trials, args.seed, cases)


if __name__ == "__main__":
    main()
