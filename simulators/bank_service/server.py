"""Serving the bank app: the standard library's WSGI server, one thread per connection, HTTP/1.1 keep-alive.

What a plain ``wsgiref`` server does not do and a bank simulator needs:

- Keep-alive: ``wsgiref`` answers HTTP/1.0 and closes every connection, so each call pays a TCP
  handshake (and a client pool keeps nothing). Here a connection serves request after request until the
  client says ``Connection: close``, goes quiet for ``IDLE_SECONDS`` or a request cannot be read. Every
  answer has a ``Content-Length`` (the app sets it), so the client knows where it ends. A request's body
  is read whole before the app runs, so a refused request never leaves bytes behind for the next one.
  ``TCP_NODELAY`` is set, or each kept-alive call would wait on the client's delayed ACK.
- The raw request target in ``RAW_URI`` (the signature covers the path as sent, before any decoding).
- Closing a connection with no answer at all when the app raises ``AnswerLost`` ("charged but the answer
  was lost"); that connection is not used again.
"""

from __future__ import annotations

import io
import socket
import sys
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from simulators.bank_service.app import MAX_BODY_BYTES, AnswerLost

IDLE_SECONDS = 120.0  # an idle keep-alive connection is closed after this (a thread is freed)


class _Handler(ServerHandler):
    http_version = "1.1"

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], AnswerLost):
            request_handler = self.request_handler  # type: ignore[attr-defined]
            request_handler.close_connection = True
            try:
                request_handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if getattr(self, "headers_sent", False):  # half an answer went out: the next one's start is lost
            self.request_handler.close_connection = True  # type: ignore[attr-defined]
        super().handle_error()

    def close(self) -> None:
        self.request_handler.answered = True  # type: ignore[attr-defined]
        super().close()


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    # wsgiref writes the status line, the headers and the body in separate sends. On a kept-alive connection
    # Nagle's algorithm holds each later small send until the client ACKs the first, which the client
    # delays (up to 40 ms): 44 ms a call instead of under 2.
    disable_nagle_algorithm = True
    quiet = False
    answered = False  # set when wsgiref finished this request's answer (``_Handler.close``)

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["RAW_URI"] = self.path
        return environ

    def handle(self) -> None:
        """Requests one after the other on this connection (``http.server``'s loop, with wsgiref's run)."""
        self.close_connection = True
        try:
            self._handle_one()
            while not self.close_connection:
                self._handle_one()
        except (TimeoutError, ConnectionError):
            pass  # idle past IDLE_SECONDS, or the client went away: the connection ends

    def _handle_one(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # sets close_connection from the version and Connection header
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            # Not read: the app refuses it (413/400) and the connection ends, its unread bytes with it.
            self.close_connection = True
            body = self.rfile
        else:
            body = io.BytesIO(self.rfile.read(length))
        handler = _Handler(
            body,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        self.answered = False
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if not self.answered:
            self.close_connection = True  # the client went away mid-answer: never reuse the connection

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class BankServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the debit workers open many pooled connections at once


def make_bank_server(app: Any, host: str, port: int, *, quiet: bool = False) -> BankServer:
    handler = type("Handler", (_RequestHandler,), {"quiet": quiet})
    server = BankServer((host, port), handler)
    server.set_app(app)
    return server
