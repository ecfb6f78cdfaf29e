"""The store: PostgreSQL through txpostgres (PRODUCT.md "Storage").

:class:`kandian.store.service.StoreService` owns the connection pool (and the
embedded server when no DSN is configured); one component per table family
(:mod:`.users`, :mod:`.devices`) turns domain calls into parameterized SQL.
The store knows nothing of protocols.
"""
