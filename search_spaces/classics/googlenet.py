"""Classic baselines: googlenet (being written)."""
