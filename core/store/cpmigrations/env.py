"""Alembic environment of the control plane, run by core.store.cpmigrate on the connection it hands in
(``config.attributes["connection"]``); no alembic.ini. ``render_as_batch``: SQLite alters a table by
copying it, which Alembic's batch mode does."""

from alembic import context

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=context.config.attributes.get("metadata"),
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
