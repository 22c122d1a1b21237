"""Alembic environment of the control plane, run by core.store.cpmigrate on the connection it hands in
(``config.attributes["connection"]``); no alembic.ini. ``render_as_batch``: revisions alter tables in
``op.batch_alter_table`` blocks, which SQLite needs (it alters a table by copying it) and PostgreSQL runs
as plain ALTERs."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
