"""The search machinery: config, the driver loop, run storage, the live view, benchmarks.

``nas.search`` is also the API's :func:`nas.api.search` (``nas.search(space=..., ...)``):
importing any module of this package binds the name ``search`` of the ``nas`` package to this
package, so this package's module object is callable and calls that function.
"""

import importlib
import sys
import types
from typing import Any


class _SearchPackage(types.ModuleType):
    """The class of this package's module: calling it is :func:`nas.api.search`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # looked up when called, by name: the API sits above the search machinery, which
        # never imports it; this only makes one name serve both
        return importlib.import_module("nas.api").search(*args, **kwargs)


sys.modules[__name__].__class__ = _SearchPackage
