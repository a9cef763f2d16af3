"""The mobilenet search space (being written)."""
