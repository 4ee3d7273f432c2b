"""Entry point of the processes the desktop app starts (``contop serve``, ``contop proxy``) plus a parent-death watch.

``python -m contop.desktop.lifeline serve ...`` reads its stdin, a pipe whose write end only the desktop app
holds. When the app exits for any reason (even SIGKILL) the pipe reaches EOF; then this process asks itself to
stop (SIGTERM: a graceful shutdown that also stops the tunnel), and after a grace period kills its whole process
group. An Away Mode lock screen stays up (it runs in a session of its own): the app's death is not an unlock, and
the next server takes the lock over. This runs in the server process, never in the app; it is here because it is
the app's half of the contract.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

GRACE_SECONDS = 2.0


def _watch_stdin() -> None:
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    _shutdown()


def _shutdown() -> None:
    if sys.platform == "win32":
        os._exit(1)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        from contop.server.away import leave_locked_on_exit

        app = os.getppid()
        leave_locked_on_exit(lambda: os.getppid() != app)  # SIGTERM from PR_SET_PDEATHSIG may come before the EOF
    threading.Thread(target=_watch_stdin, name="contop-lifeline", daemon=True).start()
    from contop.cli.main import main as contop_main

    return contop_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
