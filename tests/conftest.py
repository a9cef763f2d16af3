"""Test-wide settings.

The tests build and train many tiny networks; on a 2-core machine one torch thread per
process is several times faster for them than two (OpenMP spin-waiting dominates), and Ray
workers are separate processes with their own settings.
"""

import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# `pytest --hypothesis-profile long`: the fuzz test (tests/test_fuzz.py) tries 200 damaged
# inputs per (file, command) pair instead of the default suite's few; other hypothesis tests
# run more examples too.
from hypothesis import settings  # noqa: E402

settings.register_profile("long", max_examples=200, deadline=None)
