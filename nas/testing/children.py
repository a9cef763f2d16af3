"""Children that sleep instead of training, for tests and benchmarks of the search machinery.

A sleeping child takes ``NAS_TEST_CHILD_SECONDS`` (default 1) of wall time, uses no CPU, and
returns a result whose accuracy is a fixed function of its genome: the search around it (the
controller, Ray actors, the study, the state file) is the real one. It lives in the ``train``
evaluator's module (:func:`nas.evaluators.scratch.sleeping_child`), which Ray workers import by
name and whose test hook ``NAS_TEST_CHILD_SECONDS`` makes ``nas search`` use it; this module
names it for tests and benchmarks.
"""

from __future__ import annotations

from nas.evaluators.scratch import sleeping_child

__all__ = ["sleeping_child"]
