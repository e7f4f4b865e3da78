"""``python -m localcore``: serve with local defaults (see ``localcore.cli``)."""

from localcore.shutdown import catch_early_signals

catch_early_signals()  # before the imports below: a signal during start-up is a graceful stop too

from localcore.cli import main  # noqa: E402 - deliberately after the signal handlers

raise SystemExit(main())
