"""Telling a page that outlived a server restart, once, that its session's model and image are gone.

A restart empties everything the server kept per session (the checkpoint a visitor loaded, the image in the
session's state), while an open page keeps its session and goes on calling: its calls then silently use the
default model and image. Every page load gets a cookie with the serving run's id (`RunCookie`); a call from a
session this run has never seen, carrying another run's id, comes from a page loaded before the restart, and is
told so (`Restarts.notice`) the first time.

Not covered: a page from before the restart whose browser has meanwhile loaded the app in another tab (the
cookie, shared by the tabs, then names the new run).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

COOKIE = "biglearn_run"
MESSAGE = ("The server restarted since this page was loaded: you are back on the default model and image "
           "(a checkpoint you loaded and your image are gone; load or pick them again).")
KNOWN_SESSIONS = 10_000


class Restarts:
    """The serving run's id, and the sessions this run has seen (a bounded, oldest-first record)."""

    def __init__(self, capacity: int = KNOWN_SESSIONS) -> None:
        self.run_id = uuid.uuid4().hex
        self.capacity = capacity
        self.known: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()

    def seen(self, session: str | None) -> bool:
        """Record `session` as known to this run; whether it was known before."""
        if not session:
            return True
        with self.lock:
            if session in self.known:
                self.known.move_to_end(session)
                return True
            self.known[session] = None
            while len(self.known) > self.capacity:
                self.known.popitem(last=False)
            return False

    def notice(self, session: str | None, cookie_header: str | None) -> str | None:
        """MESSAGE when a session new to this run comes from a page loaded by another run; else None."""
        if self.seen(session) or not cookie_header:
            return None
        jar = SimpleCookie()
        try:
            jar.load(cookie_header)
        except Exception:  # noqa: BLE001 - an unreadable cookie header is no evidence of a restart
            return None
        run = jar.get(COOKIE)
        return MESSAGE if run is not None and run.value != self.run_id else None


class RunCookie:
    """ASGI middleware: the page itself (an HTML response) sets the cookie COOKIE to the serving run's id."""

    def __init__(self, app: Callable[..., Awaitable[None]], run_id: str) -> None:
        self.app, self.run_id = app, run_id

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return

        async def marked(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    cookie = f"{COOKIE}={self.run_id}; Path=/; SameSite=Lax; HttpOnly".encode()
                    message["headers"] = [*(message.get("headers") or []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, marked)
