"""A bound on request bodies, checked before Gradio reads them: a client that sends a huge JSON body gets
HTTP 413 at once instead of stalling the server (parsing a 48 MB mask list held every request for 29 s)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 2 * 1024 * 1024  # any API call: the largest legitimate one is a mask or a drawing, far below this
MAX_UPLOAD_BODY = 21 * 1024 * 1024  # /gradio_api/upload: one file of at most MAX_FILE_SIZE (20 MB) plus its form
UPLOAD_SUFFIX = "/upload"


def body_limit(path: str) -> int:
    """The largest body accepted for a request path."""
    return MAX_UPLOAD_BODY if path.rstrip("/").endswith(UPLOAD_SUFFIX) else MAX_BODY


class BodyLimit:
    """ASGI middleware: 413 for a declared Content-Length over the path's limit; a body that streams past it
    (no Content-Length) is cut off, so the application sees a disconnect instead of reading on."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


async def refuse(send: Send, limit: int) -> None:
    """A plain-text 413 naming the limit."""
    body = f"request body too large: at most {limit // (1024 * 1024)} MB here\n".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
