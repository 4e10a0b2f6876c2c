"""The JupyterHub spawner: `c.JupyterHub.spawner_class = "jupyternetes"`."""

from jupyternetes.spawner.spawner import JupyternetesSpawner, SpawnError

__all__ = ["JupyternetesSpawner", "SpawnError"]
