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
