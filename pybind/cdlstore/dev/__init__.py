"""Development tooling: the local PostgreSQL cluster of ``make demo`` / ``make test``.

Nothing of the runtime imports this package.
"""
