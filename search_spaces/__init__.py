"""The built-in search spaces; importing this package registers them all."""

from search_spaces import darts, inception, mobilenet, nasbench201, nasnet, resnet, vgg

__all__ = ["darts", "inception", "mobilenet", "nasbench201", "nasnet", "resnet", "vgg"]
