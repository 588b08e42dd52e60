"""The simulated bank service in a real subprocess, for the tests that drive it over HTTP.

Each ``BankProcess`` has its own SQLite file and a free port the service picks itself (``--port 0``; it
prints where it listens). ``restart()`` starts it again on the same file and port, so a test can check
that the books outlive the process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from repayments.http_gateway import HttpGateway

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-bank-secret-0123456789abcdef"
_LISTENING = re.compile(r"listening on (http://[\d.]+:(\d+))")


class BankProcess:
    def __init__(self, database: Path, *, env: dict[str, str] | None = None) -> None:
        self.database = database
        self.env = env or {}
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> BankProcess:
        env = {**os.environ, "BANK_API_SECRET": SECRET, **self.env}
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "simulators.bank_service",
                "--quiet",
                "--port",
                str(self.port),
                "--database",
                str(self.database),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # the service's first line, or "" if it died
        found = _LISTENING.search(line)
        if found is None:
            self.stop()
            raise RuntimeError(f"the bank service did not start: {line!r}")
        self.url, self.port = found.group(1), int(found.group(2))
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()  # as a crash would: nothing gets to flush or tidy up
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def gateway(self, **kwargs: object) -> HttpGateway:
        options: dict[str, object] = {"url": self.url, "secret": SECRET, "read_timeout": 5.0, **kwargs}
        return HttpGateway(**options)  # type: ignore[arg-type]
