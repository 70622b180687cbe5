"""Development tooling: the local PostgreSQL clusters of ``make demo``, ``make test`` and
``make cluster``.

Nothing of the runtime imports this package.
"""
