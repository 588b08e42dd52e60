"""Serving the bank app: the standard library's WSGI server, one thread per request.

Two things a plain ``wsgiref`` server does not do and a bank simulator needs: the raw request target in
``RAW_URI`` (the signature covers the path as sent, before any decoding), and closing a connection with
no answer at all when the app raises ``AnswerLost`` ("charged but the answer was lost").
"""

from __future__ import annotations

import socket
import sys
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from simulators.bank_service.app import AnswerLost


class _Handler(ServerHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], AnswerLost):
            connection = self.request_handler.connection  # type: ignore[attr-defined]
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    quiet = False

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["RAW_URI"] = self.path
        return environ

    def handle(self) -> None:
        # wsgiref's handle() with our ServerHandler.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _Handler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class BankServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def make_bank_server(app: Any, host: str, port: int, *, quiet: bool = False) -> BankServer:
    handler = type("Handler", (_RequestHandler,), {"quiet": quiet})
    server = BankServer((host, port), handler)
    server.set_app(app)
    return server
