"""PostgreSQL (RDS) through SQLModel/SQLAlchemy asyncio; SQLite serves the zero-setup local stack."""
