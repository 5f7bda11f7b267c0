"""Bounds on request bodies, checked before Gradio reads them: a client that sends a huge JSON body gets HTTP 413
at once instead of stalling the server (parsing a 48 MB mask list held every request for 29 s), and an upload of
a file no input of the app takes (any `.bin`) gets HTTP 415 instead of a place in the server's cache."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from gradio_client.utils import is_valid_file

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


FILENAME = re.compile(rb'filename="([^"\r\n]*)"')


def upload_names(body: bytes, content_type: bytes) -> list[str]:
    """The file names of a multipart/form-data body's file parts (a form field has none)."""
    boundary = re.search(rb'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        return []
    names = []
    for part in body.split(b"--" + boundary.group(1))[1:]:
        headers = part.split(b"\r\n\r\n", 1)[0]
        found = FILENAME.search(headers)
        if found:
            names.append(found.group(1).decode("utf-8", "replace"))
    return names


class BodyLimit:
    """ASGI middleware: 413 for a declared Content-Length over the path's limit; a body that streams past it
    (no Content-Length) is cut off, so the application sees a disconnect instead of reading on. With
    `upload_types` (Gradio's `file_types` notation: "image", ".json", ...), an upload whose file names none of
    them admits is refused with 415 before Gradio stores it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 upload_types: Iterable[str] | None = None) -> None:
        self.app = app
        self.upload_types = None if upload_types is None else sorted(set(upload_types))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(send, limit)
            return
        if self.upload_types is not None and limit == MAX_UPLOAD_BODY and scope.get("method") == "POST":
            await self.checked_upload(scope, receive, send, headers=dict(scope.get("headers") or []))
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

    async def checked_upload(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> None:
        """Read the whole upload (at most MAX_UPLOAD_BODY), check its file names, then hand it on unchanged."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_UPLOAD_BODY:
                await refuse(send, MAX_UPLOAD_BODY)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refused = [n for n in upload_names(body, headers.get(b"content-type", b""))
                   if not is_valid_file(n, self.upload_types)]
        if refused:
            await respond(send, 415, f"this app takes uploads of {', '.join(self.upload_types)} only\n")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def refuse(send: Send, limit: int) -> None:
    """A plain-text 413 naming the limit."""
    await respond(send, 413, f"request body too large: at most {limit // (1024 * 1024)} MB here\n")


async def respond(send: Send, status: int, text: str) -> None:
    """A plain-text response that closes the connection (the rest of the body is not read)."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
