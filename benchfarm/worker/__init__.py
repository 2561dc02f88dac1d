"""The pool host's worker process: registers the host, runs the Celery tasks, and does housekeeping.

What it runs (benchfarm.execution) comes from the composition root."""
