"""Persistence: SQLAlchemy 2.0 async models, queries, unit of work and Alembic migrations."""
