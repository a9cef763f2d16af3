"""Children that sleep instead of training, for tests and benchmarks of the search machinery.

A sleeping child takes ``NAS_TEST_CHILD_SECONDS`` (default 1) of wall time, uses no CPU, and
returns a result whose accuracy is a fixed function of its genome: the search around it (the
controller, Ray actors, the study, the state file) is the real one. It lives in the package,
not in a test file, because Ray workers import it by name.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from nas.training.result import Result


def sleeping_child(job: Any, data: Any, on_epoch: Any) -> Result:
    """A :data:`nas.evaluators.scratch.ChildFn` that sleeps; accuracy 50-99 % by genome id."""
    time.sleep(float(os.environ.get("NAS_TEST_CHILD_SECONDS", "1")))
    accuracy = random.Random(job.genome.id).uniform(50.0, 99.0)
    return Result(status="ok", val_top1=[accuracy], best_val_top1=accuracy,
                  final_val_top1=accuracy, epochs=1.0, params=1000, flops=10**6)
