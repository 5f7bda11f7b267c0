"""Serving the app on this machine without a screen, for the tests and the benchmarks: a free loopback port
and the flags headless Chromium needs here (DEVELOPERS.md: no sandbox as root, no GPU, no network of its own)."""

from __future__ import annotations

import socket

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
