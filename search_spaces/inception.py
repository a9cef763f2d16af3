"""The inception search space (being written)."""
