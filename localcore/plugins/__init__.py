"""Plugins: how a child app builds on localcore (its routes behind core's guards, its hooks, its
capabilities entry).

Module map: ``plugin`` (:class:`Plugin`, the declaration), ``loading`` (``MODULE[:ATTR]`` specs,
``LOCALCORE_PLUGINS``, ``[plugins] load`` and the ``localcore.plugins`` entry points), ``install``
(registering a plugin on an app: through the route catalog, with the collision check).
"""

from __future__ import annotations

from localcore.plugins.loading import ENTRY_POINT_GROUP, configured_plugins, entry_point_plugins, load_plugin
from localcore.plugins.plugin import Plugin, PluginError, PluginRoute

__all__ = ["ENTRY_POINT_GROUP", "Plugin", "PluginError", "PluginRoute", "configured_plugins",
           "entry_point_plugins", "load_plugin"]
