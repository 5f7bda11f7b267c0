"""Results that belong to an earlier image: when the visitor picks, uploads or draws another image, the shown
completions and sweep stay on screen but dimmed and relabelled as the previous image's, until they are made
again for the current one. UI only (updates of labels and classes, no model call)."""

from __future__ import annotations

import gradio as gr

COMPLETIONS = "completions (kept patches outlined)"
SWEEP = "source-ratio sweep"
STALE_COMPLETIONS = "completions of the previous image"
STALE_SWEEP = "sweep of the previous image"


def completions(stale: bool = False) -> gr.Gallery:
    """The completions gallery's label and classes, fresh or marked as the previous image's."""
    return gr.Gallery(label=STALE_COMPLETIONS if stale else COMPLETIONS,
                      elem_classes=["tiles", "stale"] if stale else ["tiles"])


def sweep(stale: bool = False) -> gr.Image:
    """The sweep picture's label and classes, fresh or marked as the previous image's."""
    return gr.Image(label=STALE_SWEEP if stale else SWEEP,
                    elem_classes=["pixelated", "stale"] if stale else ["pixelated"])


def image_changed() -> tuple[gr.Gallery, gr.Image]:
    """After an example is picked: both results marked stale."""
    return completions(stale=True), sweep(stale=True)


def image_replaced() -> tuple[gr.Gallery, gr.Image, gr.Gallery]:
    """After an upload or a drawing: both results marked stale, and no example highlighted any more."""
    return completions(stale=True), sweep(stale=True), gr.Gallery(selected_index=None)
