"""The vgg search space (being written)."""
