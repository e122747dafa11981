"""The etcd backend (for HA): ``etcd://host:port[,host:port...]``."""

from pinnace.storage.etcd.backend import EtcdBackend

__all__ = ["EtcdBackend"]
