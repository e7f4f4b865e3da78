"""localcore: the server contracts of @hachej/boring-core as a desktop-local Python server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcore.errors import ConfigError

__version__ = "0.1.0"
#: The upstream contract version localcore is wire-compatible with (reported in capabilities).
CORE_CONTRACT_VERSION = "0.1.43"

__all__ = ["CORE_CONTRACT_VERSION", "ConfigError", "__version__", "create_app", "load_config"]

if TYPE_CHECKING:
    from localcore.app import create_app
    from localcore.config import load_config


def __getattr__(name: str) -> Any:
    # Lazy: `import localcore` stays cheap (start-up time is a product target).
    if name == "create_app":
        from localcore.app import create_app

        return create_app
    if name == "load_config":
        from localcore.config import load_config

        return load_config
    raise AttributeError(name)
