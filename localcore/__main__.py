"""``python -m localcore``: serve with local defaults (see ``localcore.cli``)."""

from localcore.cli import main

raise SystemExit(main())
