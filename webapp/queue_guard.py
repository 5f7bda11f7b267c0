"""Who may wait in the app's queues, so that no visitor can lock the others out.

Gradio's `queue(max_size=...)` counts the waiting jobs of every queue together: one client that queued 65 live
races (each waits 20-30 s in a queue of one) filled the whole app, and everybody's Complete was refused. The guard
checks every job before Gradio queues it:
- a slow queue has a bound of its own (the race's "sims" queue: `PER_QUEUE`), so it cannot fill the others';
- a browser or API session may have only a few jobs of one kind waiting at once (`per_session`: 2 of each
  model call, e.g. 2 Completes, 1 race, 1 checkpoint load);
- a client address may have `PER_ADDRESS` jobs waiting in all, when the app knows its visitors' addresses:
  behind a proxy every request comes from the proxy, so its forwarding header is honoured only when the app is
  told it sits behind one (`BIGLEARN_TRUST_PROXY=1`, as on a Hugging Face Space); otherwise the address limit is
  not applied (it would count all visitors as one).
A refused job gets a plain sentence (HTTP 503), and the server log one INFO line. And a job that waits with
nobody listening for its result (its session has no open result stream `LISTEN_GRACE_S` after it joined: a
client that joined and left, or never read) is dropped before it runs: 100 Completes whose client never listened
used to all run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger("biglearn.app")
LISTEN_GRACE_S = 5.0
CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class Limits:
    """Waiting jobs allowed: per queue (concurrency id), per session and queue, per client address."""

    per_queue: dict[str, int] = field(default_factory=lambda: {"sims": 6})
    per_session: dict[str, int] = field(default_factory=lambda: {"model": 2, "sims": 1, "load": 1, "upload": 1})
    per_session_default: int = 8
    per_address: int = 12
    trust_proxy: bool = field(default_factory=lambda: os.environ.get("BIGLEARN_TRUST_PROXY", "") in ("1", "true"))
    # how long a waiting job's session may take to open its result stream, and how often jobs are checked
    listen_grace_s: float = field(default_factory=lambda: LISTEN_GRACE_S)
    check_every_s: float = field(default_factory=lambda: CHECK_EVERY_S)


WHAT = {"model": "model calls", "sims": "races", "load": "checkpoint loads", "upload": "checkpoint uploads"}


def client_address(request: Any, trust_proxy: bool) -> str | None:
    """The visitor's address when the app sits behind a trusted proxy: the last entry of X-Forwarded-For, the one
    that proxy appended (the entries before it are the client's to write); None (unknown) otherwise."""
    if not trust_proxy or request is None:
        return None
    forwarded = request.headers.get("x-forwarded-for", "")
    return forwarded.split(",")[-1].strip() or (request.client.host if request.client else None)


def refusal(waiting: list[Any], fn: Any, session: str | None, address: str | None, limits: Limits) -> str | None:
    """Why a new job of `fn` (its `concurrency_id`) from `session` at `address` may not wait behind `waiting` (the
    queued jobs: objects with `fn`, `concurrency_id`, `session_hash` and `request`), or None when it may."""
    concurrency_id = fn.concurrency_id
    kind = WHAT.get(concurrency_id, "requests")
    same_queue = [e for e in waiting if e.concurrency_id == concurrency_id]
    cap = limits.per_queue.get(concurrency_id)
    if cap is not None and len(same_queue) >= cap:
        return f"The app is busy: {len(same_queue)} {kind} are already waiting. Try again in a minute."
    mine = sum(e.session_hash == session and e.fn is fn for e in same_queue) if session else 0
    allowed = limits.per_session.get(concurrency_id, limits.per_session_default)
    if mine >= allowed:
        what = f"{fn.api_name or fn.name} requests"
        return (f"You already have {mine} {what} waiting; wait for {'it' if mine == 1 else 'them'} to finish "
                "before sending another.")
    if address is not None:
        from_here = sum(client_address(e.request, True) == address for e in waiting)
        if from_here >= limits.per_address:
            return f"Too many requests from your address are waiting ({from_here}); wait for them to finish."
    return None


def unlistened(waiting: list[Any], listeners: Any, grace_s: float, now: float) -> list[Any]:
    """The waiting jobs (with `session_hash` and `enqueue_time`, a time.monotonic() value) that have waited over
    `grace_s` while their session had no open result stream."""
    return [e for e in waiting if now - e.enqueue_time > grace_s and not listeners.is_open(e.session_hash)]


def install(demo: Any, limits: Limits | None = None, listeners: Any = None) -> None:
    """Put the guard in front of `demo`'s queue (after `demo.queue(...)`): every job is checked before it
    is queued; with `listeners` (session_memory.OpenStreams of the result streams), jobs nobody listens for are
    dropped every `limits.check_every_s` seconds."""
    from gradio import route_utils

    limits = limits or Limits()
    queue = demo._queue
    push: Callable[..., Awaitable[tuple]] = queue.push
    checking: list[asyncio.Task] = []

    async def drop_unlistened() -> None:
        while not getattr(queue, "stopped", False):
            waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
            for event in unlistened(waiting, listeners, limits.listen_grace_s, time.monotonic()):
                LOG.info("dropped a %s job nobody listens for (session %s)", event.fn.api_name or event.fn.name,
                         event.session_hash[:8])
                await queue.clean_events(event_id=event._id)
            await asyncio.sleep(limits.check_every_s)

    async def guarded_push(body: Any, request: Any, username: str | None) -> tuple:
        if listeners is not None and not checking:  # started in the server's event loop, by its first job
            checking.append(asyncio.get_running_loop().create_task(drop_unlistened()))
        try:
            fn = route_utils.get_fn(demo, None, body)
        except Exception:  # noqa: BLE001 - a malformed job: Gradio's own push says what is wrong with it
            return await push(body=body, request=request, username=username)
        waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
        reason = refusal(waiting, fn, body.session_hash, client_address(request, limits.trust_proxy), limits)
        if reason is not None:
            LOG.info("queue refused %s (%s): %s", fn.api_name or fn.name, fn.concurrency_id, reason)
            return False, reason, "queue_full"
        return await push(body=body, request=request, username=username)

    queue.push = guarded_push
