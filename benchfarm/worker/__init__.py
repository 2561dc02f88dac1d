"""The pool host's worker: claims jobs, runs their repetitions, records everything."""
