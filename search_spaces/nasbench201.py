"""The nasbench201 search space (being written)."""
