"""Workspace notes: an example child app on localcore (see ``examples/notes/README.md``).

``plugin`` is what ``python -m localcore --plugin notes`` installs: notes every member reads and editors
write, and a summary of them made by a (fake) model inside ``localcore.metered_run``.
"""

from __future__ import annotations

from notes.routes import plugin

__all__ = ["plugin"]
