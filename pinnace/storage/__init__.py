"""Storage: an etcd-v3-shaped key/value log (see ``backend``), with an embedded
SQLite backend (default) and a real etcd backend for HA, chosen by URL with
``open_backend``."""

from __future__ import annotations

from urllib.parse import parse_qsl

from pinnace.storage.backend import (
    Backend,
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RangeResult,
    StorageError,
)

__all__ = [
    "Backend",
    "CompactedError",
    "ConflictError",
    "Event",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "RangeResult",
    "StorageError",
    "open_backend",
]

_SQLITE_OPTIONS = {"compact_interval": float, "compact_keep": int}


def open_backend(url: str) -> Backend:
    """The (not yet started) backend a storage URL names:

    * ``sqlite:///abs/path.db`` or ``sqlite://relative/path.db``, optionally
      with ``?compact_interval=SECONDS&compact_keep=REVISIONS``;
    * ``etcd://host:port[,host:port...]`` (plain HTTP client endpoints).

    Backends are imported lazily, so SQLite users never import aiohttp.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"storage URL {url!r}: expected sqlite://PATH or etcd://HOST:PORT,...")
    if scheme == "sqlite":
        path, _, query = rest.partition("?")
        if not path:
            raise ValueError(f"storage URL {url!r}: missing database path")
        options: dict[str, float] = {}
        for name, value in parse_qsl(query, strict_parsing=bool(query)):
            if name not in _SQLITE_OPTIONS:
                raise ValueError(f"storage URL {url!r}: unknown option {name!r}")
            try:
                options[name] = _SQLITE_OPTIONS[name](value)
            except ValueError:
                raise ValueError(f"storage URL {url!r}: bad value for {name}: {value!r}") from None
        from pinnace.storage.sqlite import SqliteBackend

        return SqliteBackend(
            path,
            compact_interval=float(options.get("compact_interval", 300.0)),
            compact_keep=int(options.get("compact_keep", 1000)),
        )
    if scheme == "etcd":
        endpoints = [e.strip() for e in rest.rstrip("/").split(",") if e.strip()]
        if not endpoints or any("/" in e or ":" not in e for e in endpoints):
            raise ValueError(f"storage URL {url!r}: expected etcd://HOST:PORT[,HOST:PORT...]")
        from pinnace.storage.etcd import EtcdBackend

        return EtcdBackend(endpoints)
    raise ValueError(
        f"storage URL {url!r}: unknown scheme {scheme!r} (supported: sqlite://, etcd://)"
    )
