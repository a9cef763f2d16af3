"""The search machinery: config, the driver loop, run storage, the live view, benchmarks.

``nas.search`` is also the API's :func:`nas.api.search` (``nas.search(space=..., ...)``): this
package's module object is callable (:class:`nas._SearchPackage`), since importing any of its
modules binds the name ``search`` of the ``nas`` package to it.
"""

import sys

from nas import _SearchPackage

sys.modules[__name__].__class__ = _SearchPackage
