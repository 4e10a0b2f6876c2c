"""A Python kernel in a user's Jupyter server, driven through the server's REST and websocket API, as a user's
browser drives it: tests look from inside a notebook with it."""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
import uuid

import httpx
import websocket

#: Defines `connect(host, port, timeout)` in a kernel: "connected", or the name of the error (run it once, then call
#: it in later cells).
CONNECT = """
import socket
def connect(host, port, timeout=3.0):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return "connected"
    except OSError as error:
        return type(error).__name__
"""
#: What a connection that a NetworkPolicy refuses gives (kube-router rejects; the kernel may rate-limit the ICMP, and
#: then the attempt times out).
BLOCKED = ("ConnectionRefusedError", "TimeoutError")


def start_server(api: httpx.Client, user: str, timeout: float = 180) -> None:
    """Start `user`'s default server through the hub's REST API and wait until the hub calls it ready."""
    api.post(f"/users/{user}")
    response = api.post(f"/users/{user}/server")
    assert response.status_code in (201, 202), response.text
    deadline = time.monotonic() + timeout
    while not api.get(f"/users/{user}").json()["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, f"{user}'s server was not ready within {timeout} s"
        time.sleep(0.5)


def stop_server(api: httpx.Client, user: str, timeout: float = 120) -> None:
    """Stop `user`'s default server and wait until the hub has forgotten it."""
    assert api.delete(f"/users/{user}/server").status_code in (202, 204)
    deadline = time.monotonic() + timeout
    while True:
        model = api.get(f"/users/{user}").json()
        if "" not in model["servers"] and not model.get("pending"):
            return
        assert time.monotonic() < deadline, f"{user}'s server did not stop within {timeout} s"
        time.sleep(0.5)


def server_token(api: httpx.Client, user: str) -> str:
    """A token of `user`'s that may access their servers (the hub admin asks for it)."""
    return str(api.post(f"/users/{user}/tokens", json={"scopes": [f"access:servers!user={user}"]}).json()["token"])


class Kernel:
    """A Python kernel in a user's server, driven through the Jupyter server's REST and websocket API."""

    def __init__(self, server_url: str, token: str) -> None:
        """`server_url`: the user's server through the proxy (`<hub>/user/<name>`); `token`: one that may access it."""
        self.base = server_url
        self.headers = {"Authorization": f"token {token}"}
        with httpx.Client(headers=self.headers, timeout=60) as client:
            response = client.post(f"{self.base}/api/kernels", json={"name": "python3"})
            assert response.status_code == 201, response.text
            self.id = response.json()["id"]
        url = self.base.replace("http://", "ws://") + f"/api/kernels/{self.id}/channels"
        self.socket = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=60)
        self.session = uuid.uuid4().hex

    def run(self, code: str, timeout: float = 60) -> str:
        """Run `code`; returns what it printed, or raises with the traceback."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": textwrap.dedent(code), "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        output: list[str] = []
        replied = idle = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
            # The reply (shell) and the printed output (iopub) travel on different channels: the output is complete
            # only once the kernel says it is idle again. Returning at the reply lost it now and then.
            if replied and idle:
                return "".join(output)
        raise AssertionError(f"the kernel did not answer within {timeout}s; printed so far: {''.join(output)}")

    def close(self) -> None:
        self.socket.close()
        with httpx.Client(headers=self.headers, timeout=60) as client, contextlib.suppress(httpx.HTTPError):
            client.delete(f"{self.base}/api/kernels/{self.id}")
