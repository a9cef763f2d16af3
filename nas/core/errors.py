"""Errors a user can cause. The CLI prints them as one line and exits non-zero.

Anything else that escapes is our bug and keeps its traceback.
"""

from __future__ import annotations


class NasError(Exception):
    """Base class for every error caused by user input (bad flag, name, file or genome)."""


class UnknownNameError(NasError, KeyError):
    """A name (space, controller, dataset, baseline) that no registry knows."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class GenomeError(NasError, ValueError):
    """A genome that does not fit its space (unknown space, bad decision or value)."""


class ShapeError(NasError, ValueError):
    """A genome whose layers cannot work on the given input shape; says which layer."""
