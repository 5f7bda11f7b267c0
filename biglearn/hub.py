"""Sharing through the Hugging Face Hub: repository ids, the user's token, and an upload that is one commit or
nothing. Used by `python -m train.publish` (a checkpoint as a model repo) and `python -m webapp.deploy` (the
app as a Space). These machines cannot reach the Hub: the upload path is tested with a fake client only."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class HubError(ValueError):
    """A Hub step that cannot be done as asked, said in one line."""


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a connection to the Hub's host opens within `timeout` seconds (huggingface_hub itself retries an
    unreachable Hub for tens of seconds before it gives up); False when offline mode is on (HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


def check_repo_id(repo_id: str, what: str = "REPO_ID") -> str:
    """`repo_id` if it is `owner/name` as the Hub spells them (letters, digits, `.`, `_`, `-`); HubError else."""
    if not _REPO_ID.match(repo_id) or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise HubError(f"{what} {repo_id!r} is not a Hub id: write it as owner/name (letters, digits, '.', '_' and "
                       "'-'; no spaces, no '..', exactly one '/')")
    return repo_id


def hub_token() -> str:
    """HF_TOKEN, else the token `hf auth login` saved; HubError saying how to log in when there is neither."""
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise HubError("no Hugging Face token: log in with `hf auth login` or set HF_TOKEN to a write token "
                       "(https://huggingface.co/settings/tokens); nothing was uploaded")
    return token


def hub_api() -> Any:
    """The Hub client (one place, so that tests can put a recording fake in its place)."""
    from huggingface_hub import HfApi

    return HfApi()


def upload_once(repo_id: str, folder: Path, *, repo_type: str, token: str, message: str, private: bool = False,
                space_sdk: str | None = None) -> str:
    """Create the repository if needed, then upload `folder` as one commit that also deletes the files the folder
    lacks. Returns the commit URL. A refusal or a network error becomes one HubError line: the Hub applies a
    commit whole or not at all, so nothing is half-uploaded."""
    from huggingface_hub.errors import HfHubHTTPError, HTTPError

    api = hub_api()
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, token=token,
                        **({"space_sdk": space_sdk} if space_sdk else {}))
        info = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=str(folder), token=token,
                                 commit_message=message, delete_patterns="*")
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        why = {401: "the token was refused (log in again: hf auth login)",
               403: "the token may not write there (use a write token, in a namespace you own)",
               429: "the Hub is rate-limiting this account: try again in a few minutes"}.get(status)
        raise HubError(f"the Hub refused the upload to {repo_id}: {why or str(exc).splitlines()[0]}; nothing was "
                       "committed") from None
    except (HTTPError, OSError) as exc:  # no connection, a time-out, a proxy: the Hub never answered
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubError(f"could not reach the Hub ({first}); nothing was committed") from None
    return str(getattr(info, "commit_url", info))
