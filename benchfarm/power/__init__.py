"""The measured power of the farm's verdict: how many repetitions catch a change of a given size.

Its own package because the job spec (which refuses a change the table has no row for), the adaptive
rule in :mod:`benchfarm.analysis` and interleaved comparisons all read it.
"""
