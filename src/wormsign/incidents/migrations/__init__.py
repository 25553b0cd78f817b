"""Alembic migrations of the incident store, run programmatically by ``Store.open``.

``env.py`` expects the caller to pass an open connection in ``config.attributes["connection"]``;
there is no ``alembic.ini`` to edit. To add a revision, copy the newest file in ``versions/``.
"""
