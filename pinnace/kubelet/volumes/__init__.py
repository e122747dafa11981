"""Pod volumes on the node: the kubelet's volume manager and its plugins.

* ``manager``: :class:`VolumeManager` — set up, refresh and tear down a pod's
  volumes, and turn a container's ``volumeMounts`` into :class:`Mount` s;
* ``emptydir``: disk and tmpfs ``emptyDir`` s, mount plumbing, usage;
* ``hostpath``: ``hostPath`` type checks;
* ``projection``: configMap/secret/downwardAPI/projected payloads, bound
  service account tokens;
* ``atomic_writer``: the ``..data`` symlink swap that lets running containers
  see updated payloads;
* ``ownership``: ``fsGroup`` ownership;
* ``subpath``: safe ``subPath`` resolution.

Each module's docstring says how it follows upstream.
"""

from pinnace.kubelet.volumes.atomic_writer import AtomicWriter, FileProjection, PayloadError
from pinnace.kubelet.volumes.manager import (
    PLUGIN_DIRS,
    PROPAGATION_BIDIRECTIONAL,
    PROPAGATION_HOST_TO_CONTAINER,
    PROPAGATION_PRIVATE,
    Mount,
    VolumeError,
    VolumeManager,
    VolumeMountError,
    volume_type,
)
from pinnace.kubelet.volumes.subpath import SubPathError

__all__ = [
    "PLUGIN_DIRS",
    "PROPAGATION_BIDIRECTIONAL",
    "PROPAGATION_HOST_TO_CONTAINER",
    "PROPAGATION_PRIVATE",
    "AtomicWriter",
    "FileProjection",
    "Mount",
    "PayloadError",
    "SubPathError",
    "VolumeError",
    "VolumeManager",
    "VolumeMountError",
    "volume_type",
]
