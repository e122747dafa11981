"""pinnace: a Kubernetes-compatible container cluster in Python."""

__version__ = "0.1.0"
