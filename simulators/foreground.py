"""Run ``make run``'s process manager (honcho) as the terminal's foreground job, so Ctrl-C stops it cleanly.

``python -m simulators.foreground CMD...`` runs CMD in its own process group and hands it the terminal: Ctrl-C
then interrupts only CMD, which stops its processes and exits. Without this, the terminal's SIGINT also
reaches make, which then reports "make: *** [Makefile: run] Interrupt" and exits 130 however cleanly
everything stopped (review, Newcomer: "Ctrl-C looks like a crash"). CMD ending on an interrupt (honcho's
130) is the normal way to stop and exits 0; any other status is passed on. Without a terminal (a pipe, CI)
the interrupt this process receives is passed on to CMD.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

INTERRUPTED = 128 + signal.SIGINT  # what honcho (and a shell) exit with after Ctrl-C


def _terminal() -> int | None:
    try:
        return os.open("/dev/tty", os.O_RDWR)
    except OSError:  # no controlling terminal
        return None


def _hand_terminal(tty: int, process_group: int) -> None:
    """Make ``process_group`` the terminal's foreground; a background caller must not be stopped for it."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, process_group)
    except OSError:  # started in the background: the terminal stays where it is
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


def run(command: list[str]) -> int:
    tty = _terminal()
    own_group = os.getpgrp()
    child = subprocess.Popen(command, process_group=0)  # noqa: S603 (make's own command line)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if tty is not None:
        _hand_terminal(tty, child.pid)
    try:
        status = child.wait()
    finally:
        if tty is not None:
            _hand_terminal(tty, own_group)
            os.close(tty)
    if status in (INTERRUPTED, -signal.SIGINT):
        return 0
    return 128 - status if status < 0 else status  # killed by a signal: the shell's way of saying so


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m simulators.foreground COMMAND [ARGS...]")
    sys.exit(run(sys.argv[1:]))
