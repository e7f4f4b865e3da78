"""The backend contract suite, shipped as a pytest plugin.

Run it against any backend URL::

    pytest --pyargs localcore.testing --backend-url sqlite:///tmp/x.db --backend-url postgresql://…

With no ``--backend-url`` it runs on the three built-in backends (memory, a temporary SQLite file and a
throwaway Postgres cluster, or ``LOCALCORE_TEST_POSTGRES_URL``).

The same plugin ships fixtures for a child app's HTTP tests on those backends (``localcore_client``,
``localcore_app``, ``localcore_plugins``, ``advance_clock``, …): see ``app_fixtures`` and docs/plugins.md.
"""
