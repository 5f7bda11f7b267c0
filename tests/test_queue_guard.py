"""The queues' guard (webapp/queue_guard.py): no visitor can fill the queues for everyone."""

from __future__ import annotations

import asyncio
import types

import pytest

from webapp import layout, queue_guard
from webapp.queue_guard import Limits, refusal


@pytest.fixture(scope="module")
def fns():
    """The real event functions of the app's page, by API name."""
    demo = layout.build_demo(lambda: None)
    return {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}


def waiting(fn, session, n, address=None):
    request = None if address is None else types.SimpleNamespace(headers={"x-forwarded-for": address}, client=None)
    return [types.SimpleNamespace(fn=fn, concurrency_id=fn.concurrency_id, session_hash=session, request=request)
            for _ in range(n)]


def test_a_session_may_have_two_completes_waiting_and_another_session_is_not_affected(fns):
    complete = fns["complete"]
    queued = waiting(complete, "a", 2)
    assert "already have 2 complete requests waiting" in refusal(queued, complete, "a", None, Limits())
    assert refusal(queued, complete, "b", None, Limits()) is None
    assert refusal(waiting(complete, "a", 1), complete, "a", None, Limits()) is None
    # a classify triggered by painting does not count against the session's Completes
    assert refusal(waiting(fns["classify"], "a", 1) + waiting(complete, "a", 1), complete, "a", None,
                   Limits()) is None


def test_a_full_race_queue_refuses_races_but_never_a_complete(fns):
    race, complete = fns["race"], fns["complete"]
    races = [e for i in range(6) for e in waiting(race, f"flood{i}", 1)]
    assert "races are already waiting" in refusal(races, race, "new", None, Limits())
    assert refusal(races, complete, "new", None, Limits()) is None
    assert "1 race requests waiting" in refusal(waiting(race, "a", 1), race, "a", None, Limits())


def test_the_address_limit_applies_only_behind_a_trusted_proxy(fns):
    complete = fns["complete"]
    crowd = [e for i in range(12) for e in waiting(complete, f"s{i}", 1, address="203.0.113.9")]
    assert "from your address" in refusal(crowd, complete, "s99", "203.0.113.9", Limits())
    assert refusal(crowd, complete, "s99", "198.51.100.1", Limits()) is None
    # the client may write anything before the address the trusted proxy appends
    request = types.SimpleNamespace(headers={"x-forwarded-for": "198.51.100.7, 203.0.113.9"}, client=None)
    assert queue_guard.client_address(request, trust_proxy=True) == "203.0.113.9"
    assert queue_guard.client_address(request, trust_proxy=False) is None  # not told of a proxy: unknown


def test_install_refuses_before_gradio_queues_and_lets_the_rest_through(fns, monkeypatch):
    complete = fns["complete"]
    pushed = []

    async def push(body, request, username):
        pushed.append(body.session_hash)
        return True, "event-id", "success"

    queue = types.SimpleNamespace(push=push, event_queue_per_concurrency_id={
        "model": types.SimpleNamespace(queue=waiting(complete, "a", 2))})
    demo = types.SimpleNamespace(_queue=queue)
    monkeypatch.setattr("gradio.route_utils.get_fn", lambda blocks, api_name, body: complete)
    queue_guard.install(demo, Limits(trust_proxy=False))
    ok, reason, status = asyncio.run(queue.push(body=types.SimpleNamespace(session_hash="a"), request=None,
                                                username=None))
    assert (ok, status) == (False, "queue_full") and "wait for them to finish" in reason and pushed == []
    assert asyncio.run(queue.push(body=types.SimpleNamespace(session_hash="b"), request=None, username=None)) == \
        (True, "event-id", "success")
    assert pushed == ["b"]
