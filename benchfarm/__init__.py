"""benchfarm: a benchmark farm for heterogeneous hardware."""

__version__ = "0.1.0"
