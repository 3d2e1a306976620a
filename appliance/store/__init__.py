"""The appliance's SQLite store: database, migrations, tables and repositories."""

from appliance.store.db import CheckReport, Database

__all__ = ["CheckReport", "Database"]
