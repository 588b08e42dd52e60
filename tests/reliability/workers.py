"""Real Celery worker processes against the test database (PostgreSQL) and Redis, for fault injection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class Worker:
    """``celery worker`` with a prefork pool of one child: killing the child is a lost worker, which
    ``acks_late`` + ``reject_on_worker_lost`` turn into a redelivery."""

    def __init__(self, queue: str, name: str, **env: str) -> None:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork"]
        command += ["--concurrency", "1", "-n", f"{name}@%h", "-Q", queue, "--loglevel", "WARNING"]
        command += ["--without-gossip", "--without-mingle"]
        self.process = subprocess.Popen(  # noqa: S603
            command, env=worker_env(**env), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def children(self) -> list[int]:
        """The pool's child processes, from /proc (Linux)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def kill_child(self) -> bool:
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGKILL)
                return True
            except ProcessLookupError:
                pass
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
