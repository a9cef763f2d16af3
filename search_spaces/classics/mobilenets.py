"""Classic baselines: mobilenets (being written)."""
