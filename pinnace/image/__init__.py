"""Images without internet: OCI layouts built locally, imported into containerd, pushed to a registry.

``oci`` writes and reads OCI image layouts, ``recipes`` builds pinnace's
built-in images (pause, busybox, httpd, python) from the host's Debian files,
``importer`` loads a layout into a containerd, ``registry_client`` pushes one to
an OCI distribution registry, and ``registries`` reads k3s's
``registries.yaml`` (mirrors, auth, TLS) and pull secrets. Submodules are
imported on use; this package imports nothing heavy.
"""

PAUSE_IMAGE = "localhost/pinnace/pause:3.10"
"""The sandbox (pause) image the node agent names in containerd's config; built
from Debian's ``catatonit`` by the ``pause`` recipe. Here so that the agent can
name it without loading the image builder."""
