"""The backend contract suite, shipped as a pytest plugin.

Run it against any backend URL::

    pytest --pyargs localcore.testing --backend-url sqlite:///tmp/x.db --backend-url postgresql://…

With no ``--backend-url`` it runs on the three built-in backends (memory, a temporary SQLite file and a
throwaway Postgres cluster, or ``LOCALCORE_TEST_POSTGRES_URL``).
"""
