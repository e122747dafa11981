"""The embedded SQLite backend (the default): ``sqlite:///path/to/db``."""

from pinnace.storage.sqlite.backend import SqliteBackend, WriteStats

__all__ = ["SqliteBackend", "WriteStats"]
