"""The witness over HTTP: ``POST /add-checkpoint`` and ``GET /<hash>/checkpoint``.

A :class:`http.server.ThreadingHTTPServer` (one thread per connection,
HTTP/1.1 keep-alive) in front of a :class:`~ledger.witness.Witness`. The
submission and monitoring prefixes are the server's root. Bodies are read
to their ``Content-Length`` (required; at most :data:`MAX_BODY` bytes).

The transport is plain HTTP by design: what a witness answers is a
signature the client checks against the witness's key, and what it is
sent is public (a log's origin, size and root), so TLS would add neither
integrity nor secrecy; put a TLS terminator in front where a county's
policy wants one anyway.
"""

from __future__ import annotations

import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError

if TYPE_CHECKING:
    from types import TracebackType

    from ledger.witness import Witness, WitnessResponse

__all__ = ["MAX_BODY", "WitnessServer"]

MAX_BODY = 256 * 1024
"""Largest request body: 63 proof lines and 100 signatures fit many times over."""
_MONITOR = re.compile(r"/([0-9a-f]{64})/checkpoint")
_log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A kept-alive connection with Nagle on holds the body, written after the
    # headers, until the client's delayed ACK: about 40 ms on every request.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._plain(HTTPStatus.NOT_FOUND, f"no such endpoint {self.path!r}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._plain(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return
        if int(length) > MAX_BODY:
            self._plain(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"bodies are at most {MAX_BODY} bytes",
            )
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        self._send(self.server.witness.add_checkpoint(body))

    def do_GET(self) -> None:
        match = _MONITOR.fullmatch(self.path)
        if match is None:
            self._plain(HTTPStatus.NOT_FOUND, f"no such endpoint {self.path!r}")
            return
        self._send(self.server.witness.monitored(match[1]))

    def _plain(self, status: HTTPStatus, message: str) -> None:
        body = (message + "\n").encode()
        self._reply(int(status), "text/plain; charset=utf-8", body)

    def _send(self, response: WitnessResponse) -> None:
        self._reply(response.status, response.content_type, response.body)

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("witness http %s: " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)


class WitnessServer:
    """Serves ``witness`` on ``address`` (``host:port``; port 0 picks one).

    A context manager: entering starts the server thread, leaving stops it.
    """

    def __init__(self, witness: Witness, address: str = "127.0.0.1:7380") -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError("address", f"{address!r} is not host:port")
        try:
            self._server = _Server((host, int(port)), witness)
        except OSError as e:
            raise ConfigurationError(
                "address", f"cannot listen on {address}: {e}"
            ) from e
        # A short poll so that stopping (tests, Ctrl-C) takes no half second.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="witness-http",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """``http://host:port`` the witness answers on."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> WitnessServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
