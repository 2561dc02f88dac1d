"""Interleaved A/B comparisons (`benchfarm ab`): baseline and candidate jobs alternating on the farm."""
