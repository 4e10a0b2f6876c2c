"""Developer tooling: pinned Go-built binaries and a real local control plane for tests and `jupyternetes dev`.

Nothing here is imported by the webhook, the operator or the spawner; it starts them as separate processes.
"""
