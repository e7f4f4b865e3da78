"""The storage contract: what every backend provides and every feature may rely on.

One module per concern — ``clock``, ``errors``, ``ids``, ``tokens``, ``users``, ``sessions``,
``workspaces``, ``ratelimits``, ``ledger``, ``backend`` — holding the records (frozen dataclasses), the
store Protocols and the store errors, plus the pure rules both kinds of backend apply (``rules_*``): a
rule is written once here and called by the memory and the SQL backends alike.

This package imports no feature package and no aiohttp; ``backends/`` imports nothing of localcore but
this package (a test in the suite checks both by reading the imports). Import from the submodules.
"""
