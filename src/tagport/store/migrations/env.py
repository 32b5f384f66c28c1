"""Alembic environment: runs on the engine handed over by `tagport.store.db.Database`."""

from alembic import context

from tagport.store.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters tables by copying them (batch mode). With foreign keys on, dropping a
        # referenced table deletes or refuses what refers to it: add columns in place
        # (`op.add_column`), and test a migration on a populated home (test_store.py).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
