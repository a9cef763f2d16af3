"""The resnet search space (being written)."""
