"""The platform's metadata store: SQLAlchemy 2 models, repositories, Alembic migrations."""
