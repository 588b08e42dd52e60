"""The local-disk broker of the embedded defaults (no ``REDIS_URL``), made to stop promptly."""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem

# The broker URL's scheme for this transport (``localfs://``), registered with kombu below: a URL, unlike
# Celery's ``broker_transport`` setting, still names the broker when something sets another URL.
SCHEME = "localfs"

# The longest an idle worker waits for a message before it looks at its stop flag again (seconds): Celery's
# loop asks for up to 2 s at a time.
MAX_WAIT_SECONDS = 0.2


class FilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport, whose waits a worker sees a stop signal between.

    Celery drives a polling transport with a loop that waits up to 2 s for a message per turn and takes one
    more turn after a stop signal: a worker needed about 4 s to stop, honcho kills what is left after 5 s,
    and Ctrl-C on ``make run`` ended in SIGKILL (review, Newcomer). Shorter waits change nothing else: the
    loop simply turns more often, each turn a directory listing.
    """

    def drain_events(self, connection: Any, timeout: Any = None, **kwargs: Any) -> Any:
        # A caller that waits without a limit still does (a limited wait ends in socket.timeout).
        wait = None if timeout is None else min(timeout, MAX_WAIT_SECONDS)
        return super().drain_events(connection, timeout=wait, **kwargs)


TRANSPORT_ALIASES[SCHEME] = f"{__name__}:FilesystemTransport"
