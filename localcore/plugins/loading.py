"""Finding plugins: ``MODULE[:ATTR]`` specs and installed packages.

A spec names a module and, after a colon, the attribute holding the plugin (default ``plugin``). The
attribute is a :class:`Plugin`, or a callable taking no arguments that returns one (a factory). Where
specs come from, all of them added up (a plugin found twice is installed once):

- ``python -m localcore --plugin MODULE[:ATTR]`` (repeatable);
- ``LOCALCORE_PLUGINS=mod1,mod2:attr`` and ``[plugins] load = ["mod1", "mod2:attr"]`` in
  ``boring.app.toml`` (both read by ``load_config`` into ``Config.plugins``);
- installed distributions declaring an entry point in the ``localcore.plugins`` group, e.g.
  ``[project.entry-points."localcore.plugins"] notes = "notes:plugin"``.

A spec that cannot be imported or does not name a plugin raises :class:`PluginError` naming it: the
server does not start without a plugin it was asked to load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable
from typing import Any

from localcore.plugins.plugin import Plugin, PluginError

__all__ = ["ENTRY_POINT_GROUP", "configured_plugins", "entry_point_plugins", "load_plugin", "parse_specs"]

ENTRY_POINT_GROUP = "localcore.plugins"
DEFAULT_ATTRIBUTE = "plugin"


def parse_specs(text: str) -> list[str]:
    """``"mod1, mod2:attr"`` → ``["mod1", "mod2:attr"]`` (the ``LOCALCORE_PLUGINS`` syntax)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _as_plugin(value: Any, origin: str) -> Plugin:
    if isinstance(value, Plugin):
        return value
    if callable(value) and not isinstance(value, type):
        try:
            made = value()
        except Exception as exc:
            raise PluginError(f"plugin {origin}: its factory failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(made, Plugin):
            return made
        raise PluginError(f"plugin {origin}: its factory returned {type(made).__name__}, not a localcore.Plugin")
    raise PluginError(f"plugin {origin}: {type(value).__name__} is not a localcore.Plugin "
                      "(or a function returning one)")


def load_plugin(spec: str) -> Plugin:
    """The plugin a ``MODULE[:ATTR]`` spec names (``ATTR`` defaults to ``plugin``)."""
    module_name, _, attribute = spec.strip().partition(":")
    module_name, attribute = module_name.strip(), attribute.strip() or DEFAULT_ATTRIBUTE
    if not module_name:
        raise PluginError(f"plugin {spec!r}: expected MODULE[:ATTR]")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = f" ({exc.name} not found)" if exc.name and exc.name != module_name else ""
        raise PluginError(f"plugin {spec!r}: cannot import module {module_name!r}{missing}") from exc
    except Exception as exc:
        raise PluginError(f"plugin {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise PluginError(f"plugin {spec!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return _as_plugin(value, repr(spec))


def entry_point_plugins() -> list[Plugin]:
    """The plugins installed distributions declare in the ``localcore.plugins`` entry-point group."""
    found: list[Plugin] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{entry.name!r} (entry point {entry.value!r})"
        try:
            value = entry.load()
        except Exception as exc:
            raise PluginError(f"plugin {origin}: loading failed: {type(exc).__name__}: {exc}") from exc
        found.append(_as_plugin(value, origin))
    return found


def configured_plugins(specs: Iterable[str] = (), *, entry_points: bool = True) -> list[Plugin]:
    """Every plugin ``specs`` name, then the installed ones (``entry_points``), each once."""
    plugins: list[Plugin] = []
    for spec in specs:
        plugins.append(load_plugin(spec))
    if entry_points:
        plugins.extend(entry_point_plugins())
    unique: list[Plugin] = []
    for plugin in plugins:
        if not any(plugin is seen for seen in unique):
            unique.append(plugin)
    return unique
