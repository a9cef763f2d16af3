"""The built-in search spaces; importing this package registers them all."""

from search_spaces import (
    convnet,
    darts,
    densenet,
    inception,
    mobilenet,
    nasbench201,
    nasnet,
    resnet,
    vgg,
)

__all__ = ["convnet", "darts", "densenet", "inception", "mobilenet", "nasbench201", "nasnet",
           "resnet", "vgg"]
