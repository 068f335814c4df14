"""Training data for the learned controller (see :mod:`.make`)."""

from .make import DatasetOptions, make_dataset, random_console

__all__ = ["DatasetOptions", "make_dataset", "random_console"]
