"""What the server keeps for each visitor, released soon after the visitor is gone.

Gradio keeps a state per session: a copy of the page's configuration and the last outputs of its calls. Measured
with tracemalloc (in process, the bundled model): 685 KiB per fresh session after one `/complete_raw` of 16
samples, 4 KiB once that state is dropped. Gradio frees a browser's state an hour after its page closed and an API
client's (which never opens the heartbeat stream) only when 10,000 newer sessions push it out: memory grew in a
straight line with the number of visitors. Here:
- `StreamWatch` (ASGI middleware) counts each session's open streams: heartbeats (an open page) in `pages`, and
  result streams (`/queue/data`: someone waiting for the session's results) in `listeners`;
- `sweep` drops the state of every session without an open page, with no job queued or running, and idle for
  `API_IDLE_S` (an API client's session: it has ended when it stops calling) or, for a page that closed,
  `CLOSED_GRACE_S`;
- the number of sessions kept at once is capped at `CAPACITY` (Gradio's `state_session_capacity`; the oldest go).
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

API_IDLE_S = 120.0
CLOSED_GRACE_S = 60.0
CAPACITY = 1000  # sessions at once: ~685 KiB each at most, so well under 1 GB whatever the traffic
SWEEP_EVERY_S = 30.0
DEPARTED_AFTER_S = 0.5  # a running job's session without a result stream this long has left
HEARTBEAT = "/heartbeat/"
RESULTS = "/queue/data"


@dataclass
class OpenStreams:
    """The sessions with an open stream of one kind, by count of streams."""

    live: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, session: str) -> None:
        with self.lock:
            self.live[session] = self.live.get(session, 0) + 1

    def close(self, session: str) -> None:
        with self.lock:
            left = self.live.get(session, 0) - 1
            if left > 0:
                self.live[session] = left
            else:
                self.live.pop(session, None)

    def is_open(self, session: str) -> bool:
        with self.lock:
            return session in self.live


def departure(listeners: OpenStreams, session: str, grace_s: float = DEPARTED_AFTER_S) -> Callable[[], bool]:
    """A check for a long job (the live race asks it every outer iteration): True once `session` has had no
    result stream open for `grace_s` seconds, i.e. nobody is left to receive what the job makes."""
    closed_since: list[float] = []

    def departed() -> bool:
        if listeners.is_open(session):
            closed_since.clear()
            return False
        if not closed_since:
            closed_since.append(time.monotonic())
        return time.monotonic() - closed_since[0] >= grace_s

    return departed


@dataclass
class Streams:
    """The open streams of an app: heartbeats (`pages`) and result streams (`listeners`)."""

    pages: OpenStreams = field(default_factory=OpenStreams)
    listeners: OpenStreams = field(default_factory=OpenStreams)


class StreamWatch:
    """ASGI middleware: records the heartbeat streams (`.../heartbeat/<session>`) and the result streams
    (`.../queue/data?session_hash=<session>`) while they are open."""

    def __init__(self, app: Callable[..., Awaitable[None]], streams: Streams) -> None:
        self.app, self.streams = app, streams

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if HEARTBEAT in path:
            kind, session = self.streams.pages, path.rsplit(HEARTBEAT, 1)[1].strip("/")
        elif path.endswith(RESULTS):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            kind, session = self.streams.listeners, (query.get("session_hash") or [""])[0]
        else:
            await self.app(scope, receive, send)
            return
        kind.open(session)
        closed = asyncio.Event()

        def close_once() -> None:
            if not closed.is_set():
                closed.set()
                kind.close(session)

        # the client's leaving is read off `receive` as it arrives: the app itself notices only at its next
        # message (up to Gradio's 10 s wait), and a job asking `departure` must not run on that long
        inbox: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    close_once()
                    return

        task = asyncio.create_task(pump())
        try:
            await self.app(scope, inbox.get, send)
        finally:
            task.cancel()
            close_once()


def sweep(demo: Any, pages: OpenStreams, *, api_idle_s: float = API_IDLE_S,
          closed_grace_s: float = CLOSED_GRACE_S) -> int:
    """Drop the state of the sessions that have ended (see the module's text); returns how many."""
    holder, queue = demo.state_holder, getattr(demo, "_queue", None)
    now = datetime.datetime.now()
    busy = set() if queue is None else {s for s, events in queue.pending_event_ids_session.items() if events}
    dropped = 0
    for session in list(holder.session_data):
        if session in busy or pages.is_open(session):
            continue
        state = holder.session_data.get(session)
        last = holder.time_last_used.get(session, now)
        wait = closed_grace_s if getattr(state, "is_closed", False) else api_idle_s
        if (now - last).total_seconds() < wait:
            continue
        with holder.lock:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
        if queue is not None:
            queue.pending_event_ids_session.pop(session, None)
            queue.pending_messages_per_session.pop(session, None)
        dropped += 1
    return dropped


def keep_bounded(demo: Any, pages: OpenStreams, every_s: float = SWEEP_EVERY_S, api_idle_s: float = API_IDLE_S,
                 closed_grace_s: float = CLOSED_GRACE_S) -> threading.Thread:
    """Sweep `demo`'s sessions every `every_s` seconds on a daemon thread, until the demo is gone or stopped."""
    ref = weakref.ref(demo)

    def loop() -> None:
        seen_running = False
        while True:
            time.sleep(every_s)
            current = ref()
            if current is None:
                return
            running = bool(getattr(current, "is_running", False))
            if seen_running and not running:
                return
            seen_running = seen_running or running
            if running:
                sweep(current, pages, api_idle_s=api_idle_s, closed_grace_s=closed_grace_s)
            del current

    thread = threading.Thread(target=loop, name="biglearn-sessions", daemon=True)
    thread.start()
    return thread
