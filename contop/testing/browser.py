"""Headless Chromium for tests and benchmarks: the Debian browser, started by Playwright, never downloaded.

The flags let WebRTC work between processes of one machine (loopback candidates, no mDNS names) and keep the
browser from reaching the internet.
"""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)


def chromium_missing() -> str | None:
    """Why Chromium cannot be used here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    return None
