"""A TCP round-robin balancer on loopback: what a Kubernetes Service does for a Deployment's replicas, for tests that
run several replicas of a component as local processes. Connections are passed through untouched (TLS included), so
each client sees the certificate of the replica it reached."""

from __future__ import annotations

import itertools
import socket
import threading
from collections import Counter


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.connections: Counter[int] = Counter()
        self._next = itertools.cycle(backends)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="balancer", daemon=True)

    def __enter__(self) -> Balancer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._server.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            port = next(self._next)
            self.connections[port] += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
