"""Classic baselines: alexnet_vgg (being written)."""
