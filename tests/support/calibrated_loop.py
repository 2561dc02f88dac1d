"""A CPU-time benchmark whose noise is small on a VM whose CPU speed is not steady.

Used by tests/integration/test_verdicts.py and bench/verdict_power.py. A busybox shell loop of ``N``
iterations is timed against a reference loop of ``REF`` iterations, in ``SLICES`` alternating slices of
each, by the CPU time of the shell's own process (``/proc/$$/schedstat``, nanoseconds). It prints
``{"ms": <the loop's CPU ms per 1000 ms of the reference's>}``; lower is better.

Why it looks like this (measured on the 2-core KVM VM of 2026-12-02 with busybox 1.35, CPU 1):

- The CPU time of a fixed loop moved by 20-30% between jobs and by up to 2x between 75 ms slices of one
  job: the host changes the guest's speed, and the guest cannot see it (steal time stays 0). A reference
  loop in the same process, alternating with the loop, takes the same speed changes, so their ratio keeps
  only the changes faster than one slice pair.
- A process that reads its own ``schedstat`` while running reads the value of the last scheduler tick
  (4 ms here), so 2-3 ms slices were unmeasurable and 45 ms slices still moved the ratio by about 5%.
  ``read -t 0.001`` on a FIFO the shell holds open sleeps for a millisecond; going to sleep brings the
  process's CPU time up to date, so every reading is exact to the nanosecond. With 100 slice pairs of
  about 3 ms the ratio of twelve A/A runs had a standard deviation of 0.8% against 17% for the same
  loop timed by its total CPU time.
"""

from __future__ import annotations

SLICES = 100

SCRIPT = (
    'loop(){ i=0; while [ $i -lt $1 ]; do i=$((i+1)); done; }; '
    'f=/tmp/.tick$$; mkfifo $f && exec 3<>$f && rm $f || exit 70; '
    # sleeping 1 ms brings this process's CPU time up to date before it reads it
    't(){ read -t 0.001 x <&3; read $1 y < /proc/$$/schedstat; }; '
    f'a=0; b=0; k=0; while [ $k -lt {SLICES} ]; do '
    f't s; loop $((REF / {SLICES})); t e; a=$((a+e-s)); '
    f't s; loop $((N / {SLICES})); t e; b=$((b+e-s)); '
    'k=$((k+1)); done; '
    'echo "{\\"ms\\": $(( b*1000/a ))}"'
)


def calibrated_env(iterations: int, reference: int) -> dict[str, str]:
    """The script's environment: ``iterations`` of the loop against ``reference`` of the reference loop."""
    return {"N": str(iterations), "REF": str(reference)}
