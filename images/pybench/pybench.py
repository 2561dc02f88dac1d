"""Python micro-benchmarks in the style of pyperformance, with timeit.

Each benchmark is timed PYBENCH_REPEAT times with enough loops to take about
PYBENCH_MIN_TIME seconds; the best time per loop (microseconds) is printed as one
JSON line per benchmark on stdout: {"<name>_us": <best>}. Details go to stderr.
"""

import json
import os
import platform
import re
import sys
import timeit


def bench_float():
    total = 0.0
    for i in range(1, 2000):
        x = float(i)
        total += (x * 1.0001 - x / 3.7) ** 2 ** 0.5
    return total


def bench_nbody():
    bodies = [[0.0, 0.0, 0.0, 0.01, 0.02, 0.0, 39.47], [4.84, -1.16, -0.10, 0.60, 2.81, -0.02, 0.037],
              [8.34, 4.12, -0.40, -1.01, 1.82, 0.008, 0.011], [12.89, -15.11, -0.22, 1.08, 0.86, -0.01, 0.0017],
              [15.37, -25.91, 0.17, 0.97, 0.59, -0.03, 0.002]]
    dt = 0.01
    for _ in range(50):
        for i, (x1, y1, z1, _vx, _vy, _vz, m1) in enumerate(bodies):
            for b2 in bodies[i + 1:]:
                dx, dy, dz = x1 - b2[0], y1 - b2[1], z1 - b2[2]
                mag = dt * (dx * dx + dy * dy + dz * dz) ** -1.5
                b1 = bodies[i]
                b1[3] -= dx * b2[6] * mag
                b1[4] -= dy * b2[6] * mag
                b1[5] -= dz * b2[6] * mag
                b2[3] += dx * m1 * mag
                b2[4] += dy * m1 * mag
                b2[5] += dz * m1 * mag
        for b in bodies:
            b[0] += dt * b[3]
            b[1] += dt * b[4]
            b[2] += dt * b[5]


_DOC = {"name": "benchfarm", "values": list(range(200)), "nested": [{"k": str(i), "v": i * 1.5} for i in range(50)]}


def bench_json_roundtrip():
    return json.loads(json.dumps(_DOC))


_TEXT = "host-17 cpu=Intel(R) Xeon(R) freq=2.40GHz load=0.73 user=root pid=4242\n" * 50
_RE = re.compile(r"(\w+)=([\w.()\- ]+?)(?= \w+=|$)", re.M)


def bench_regex():
    return _RE.findall(_TEXT)


_DATA = [(i * 7919) % 10007 for i in range(5000)]


def bench_sort():
    return sorted(_DATA)


def bench_dict_ops():
    d = {}
    for i in range(2000):
        d[f"k{i}"] = i
    return sum(d[k] for k in d if d[k] % 3 == 0)


def bench_str_format():
    return "".join(f"{i:05d}:{i * 0.5:.3f}|" for i in range(1000))


BENCHMARKS = {"float": bench_float, "nbody": bench_nbody, "json_roundtrip": bench_json_roundtrip,
              "regex": bench_regex, "sort": bench_sort, "dict_ops": bench_dict_ops, "str_format": bench_str_format}


def main() -> int:
    repeat = int(os.environ.get("PYBENCH_REPEAT", "5"))
    min_time = float(os.environ.get("PYBENCH_MIN_TIME", "0.2"))
    only = [n for n in os.environ.get("PYBENCH_ONLY", "").split(",") if n]
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        print(f"pybench: unknown benchmarks {unknown}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    print(f"pybench on {platform.python_implementation()} {platform.python_version()}", file=sys.stderr)
    for name, fn in BENCHMARKS.items():
        if only and name not in only:
            continue
        timer = timeit.Timer(fn)
        loops, elapsed = timer.autorange()
        loops = max(1, int(loops * min_time / max(elapsed, 1e-9)))
        best = min(timer.repeat(repeat=repeat, number=loops)) / loops
        print(json.dumps({f"{name}_us": round(best * 1e6, 3)}), flush=True)
        print(f"  {name}: {best * 1e6:.3f} us/loop ({loops} loops x {repeat})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
