"""PostgreSQL (RDS) through SQLModel/SQLAlchemy asyncio; SQLite for the zero-setup local stack."""
