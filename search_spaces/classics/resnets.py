"""Classic baselines: resnets (being written)."""
