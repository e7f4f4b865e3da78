"""Storage backends for localcore: ``memory``, ``sqlite`` (default) and ``postgres``.

``open_backend(url)`` is the only entry point the composition root uses.
"""

from __future__ import annotations

from backends.registry import open_backend

__all__ = ["open_backend"]
