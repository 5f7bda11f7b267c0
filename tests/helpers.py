"""Helpers shared by the tests: the small model widths of the app tests, a free port, Chromium's flags.

(Fixtures live in tests/conftest.py; these are plain values and functions the test modules import.)
"""

from __future__ import annotations

import socket

# 28x28 digits, patch 4 (7x7 grid), 10 classes, every width tiny: a checkpoint of this loads in milliseconds
SMALL = dict(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, noise_dim=8,
             noise_depth=2, conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)

# the flags headless Chromium needs here (DEVELOPERS.md): no sandbox as root, no GPU, no network of its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
