"""Running claimed jobs: the executor (claim, repetitions, record), the reaper of lost jobs, and what
the job path sends to the store. Plain domain code, built and handed its adapters by the composition
root; the worker process (benchfarm.worker) only hosts it."""
