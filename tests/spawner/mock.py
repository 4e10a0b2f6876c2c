"""A spawner outside a running hub, as JupyterHub would construct it: a user, the hub's address, a server."""

from __future__ import annotations

from typing import Any

from jupyterhub.objects import Hub, Server
from traitlets import Unicode

from jupyternetes.spawner import JupyternetesSpawner


class MockUser:
    def __init__(self, name: str, user_id: int = 7) -> None:
        self.name = name
        self.id = user_id
        self.escaped_name = name
        self.url = f"/user/{name}/"
        self.settings: dict[str, Any] = {}
        self.spawners: dict[str, Any] = {}


class StandaloneSpawner(JupyternetesSpawner):
    """The spawner without the hub's database behind it: the server name is a plain trait."""

    server_name = Unicode("")

    @property
    def name(self) -> str:
        return str(self.server_name)


def spawner(user: str = "jovyan", server_name: str = "", token: str = "t0ken-for-tests", **traits: Any
            ) -> JupyternetesSpawner:
    prefix = f"/user/{user}/{server_name + '/' if server_name else ''}"
    made = StandaloneSpawner(user=MockUser(user), server_name=server_name, hub=Hub(), api_token=token,
                             oauth_client_id=f"jupyterhub-user-{user}", **traits)
    made._server = Server(base_url=prefix, ip="0.0.0.0", port=8888)
    return made
