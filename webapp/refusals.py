"""A visitor's mistake costs one line: a plain message on the page (and to API clients), one INFO line with the
endpoint and the reason in the server's log, and no traceback (Gradio prints one for every `gr.Error` unless
told not to). Real bugs keep their tracebacks: only what the app refuses on purpose goes through here."""

from __future__ import annotations

import html
import logging

import gradio as gr

LOG = logging.getLogger("biglearn.app")


def message(reason: BaseException | str, capitalise: bool = True) -> str:
    """A refusal as a one-line, HTML-safe sentence. Its first letter is capitalised only when the first word is
    an ordinary word: a typed id or path keeps its case ("nobody/model ...")."""
    text = str(reason) or type(reason).__name__
    first = text.split(" ", 1)[0]
    if capitalise and first.isalpha():
        text = text[:1].upper() + text[1:]
    # quotes stay as they are: API clients read these messages as plain text (no &#x27;); < > & are escaped
    # because the page's toasts render HTML
    return html.escape(text, quote=False)


def refused(reason: BaseException | str, where: str, prefix: str = "", capitalise: bool = True) -> gr.Error:
    """The error to raise for a refused input at `where` (an endpoint or input), logged as one INFO line."""
    text = prefix + message(reason, capitalise=capitalise and not prefix)
    LOG.info("%s refused: %s", where, text)
    return gr.Error(text, print_exception=False)
