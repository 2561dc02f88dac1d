"""Bisection of a performance regression over image revisions (`benchfarm bisect`)."""
