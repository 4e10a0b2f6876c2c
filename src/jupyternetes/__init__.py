"""Jupyternetes: JupyterHub on Kubernetes, split into least-privilege components."""

__version__ = "0.1.0"
