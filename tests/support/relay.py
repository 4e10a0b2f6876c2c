"""A TCP relay on loopback in front of the real API server (TLS passes through untouched), for tests of what a client
does when the way to the server is slow or not there yet. `delay` holds each piece of the server's answers that long
before passing it on; it can be changed while connections are open."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class Relay:
    def __init__(self, server_url: str, delay: float = 0.0) -> None:
        real = urlsplit(server_url)
        self.host, self.port = real.hostname or "127.0.0.1", real.port or 443
        self.delay = delay
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, listen: int = 0) -> int:
        """Listen on 127.0.0.1:`listen` (any free port if 0); the port listened on."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", listen)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening and end every connection through the relay."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool) -> None:
        try:
            while data := await reader.read(65536):
                if delayed and self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(self._pipe(reader, upstream_writer, False),
                                 self._pipe(upstream_reader, writer, True))
        finally:
            self._writers -= {writer, upstream_writer}
