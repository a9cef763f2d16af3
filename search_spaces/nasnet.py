"""The nasnet search space (being written)."""
