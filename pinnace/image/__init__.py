"""Images without internet: OCI layouts built locally, imported into containerd, pushed to a registry.

``oci`` writes and reads OCI image layouts, ``recipes`` builds pinnace's
built-in images (pause, busybox, httpd, python) from the host's Debian files,
``importer`` loads a layout into a containerd, ``registry_client`` pushes one to
an OCI distribution registry, and ``registries`` reads k3s's
``registries.yaml`` (mirrors, auth, TLS) and pull secrets. Submodules are
imported on use; this package imports nothing heavy.
"""
