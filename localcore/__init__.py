"""localcore: the server contracts of @hachej/boring-core as a desktop-local Python server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcore.errors import ConfigError

__version__ = "0.1.0"
#: The upstream contract version localcore is wire-compatible with (reported in capabilities).
CORE_CONTRACT_VERSION = "0.1.43"

__all__ = ["CORE_CONTRACT_VERSION", "ConfigError", "Membership", "MeteredRun", "Plugin", "__version__",
           "backend_of", "clock_of", "config_of", "create_app", "current_user", "load_config", "mailer_of",
           "metered_run", "metered_run_for", "require_role", "require_user"]

if TYPE_CHECKING:
    from localcore.app import create_app
    from localcore.config import load_config
    from localcore.helpers import (
        Membership,
        backend_of,
        clock_of,
        config_of,
        current_user,
        mailer_of,
        require_role,
        require_user,
    )
    from localcore.metered import MeteredRun, metered_run, metered_run_for
    from localcore.plugins import Plugin

#: The public names for building on localcore, by the module that defines them (imported on first use).
_LAZY = {
    "Plugin": "localcore.plugins",
    **dict.fromkeys(("Membership", "backend_of", "clock_of", "config_of", "current_user", "mailer_of",
                     "require_role", "require_user"), "localcore.helpers"),
    **dict.fromkeys(("MeteredRun", "metered_run", "metered_run_for"), "localcore.metered"),
}


def __getattr__(name: str) -> Any:
    # Lazy: `import localcore` stays cheap (start-up time is a product target).
    if name == "create_app":
        from localcore.app import create_app

        return create_app
    if name == "load_config":
        from localcore.config import load_config

        return load_config
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(name)
