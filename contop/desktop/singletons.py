"""Keep ``None``, ``True`` and ``False`` alive under a PySide6 that returns them without a reference of their own.

PySide6 6.12.0 on Python 3.11 returns ``None`` from every Qt method that returns nothing (``setText``,
``setEnabled``, ...) and ``True``/``False`` from ``Signal.emit()`` without counting the reference it hands over, as
if they were immortal (they are only from Python 3.12 on). Python then releases one reference it was never given at
each call: the idle app loses about 40 references to ``None`` and one to ``True`` a second, and once a count reaches
zero Python aborts ("Fatal Python error: none_dealloc" or "bool_dealloc"): the idle app after about seven minutes, a
test run when it exits. ``keep_alive`` gives the three singletons what Python 3.12 gives them: a count that such
calls cannot exhaust.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

# Python 3.12 makes them immortal with a count of 2**32 - 1; at a thousand lost references a second this lasts
# thousands of years.
EXTRA_REFERENCES = 1 << 40
PROBE_CALLS = 64


class _Probe(QObject):
    ping = Signal()


def drops_references() -> bool:
    """Whether this PySide6 loses a reference to ``None`` or ``True`` at each call (each probe call costs one, when
    it does: ``keep_alive`` makes up for them)."""
    if sys.version_info >= (3, 12):
        return False  # immortal: a lost reference changes nothing
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("")
        probe.ping.emit()
    lost = max(none_before - sys.getrefcount(None), true_before - sys.getrefcount(True))
    return lost >= PROBE_CALLS // 2


def keep_alive() -> bool:
    """When this PySide6 drops references to the singletons, add ``EXTRA_REFERENCES`` to each, once per process;
    whether it did. Call it before the app runs, while no other thread can change these counts."""
    if sys.getrefcount(None) > EXTRA_REFERENCES // 2 or not drops_references():
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += EXTRA_REFERENCES  # ob_refcnt, the first field
    log.info(  # not a warning: `contop desktop` prints those, and the user can do nothing about it
        "PySide6 %s on Python %d.%d loses a reference to None/True/False at each call (a PySide bug): "
        "they are kept alive for the whole run",
        PYSIDE_VERSION,
        *sys.version_info[:2],
    )
    return True
