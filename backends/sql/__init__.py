"""What SQLite and Postgres share: one SQL dialect-neutral store implementation over ``Database``."""
