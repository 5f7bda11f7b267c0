"""The drawing widgets' wire format and their Python ends (the browser end is in test_app_browser.py)."""

import base64
import io

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from webapp import widgets
from webapp.widgets import (
    DrawingPad,
    Painting,
    PatchPainter,
    decode_data_url,
    mask_from_value,
    painter_value,
    png_data_url,
)


def mask_of(rows, cols, kept):
    mask = np.zeros((rows, cols), dtype=bool)
    mask.flat[kept] = True
    return mask


class TestWireFormat:
    @pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (32, 32, 3), (5, 9, 4)])
    def test_png_data_url_round_trips(self, shape):
        image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        url = png_data_url(image)
        assert url.startswith("data:image/png;base64,")
        back = np.asarray(decode_data_url(url))
        assert np.array_equal(back, image.reshape(back.shape))

    def test_painter_value_round_trips(self):
        image = np.zeros((28, 28, 1), dtype=np.uint8)
        mask = mask_of(7, 7, [0, 8, 48])
        value = painter_value(Painting(image, mask))
        assert value["grid"] == [7, 7] and sum(value["mask"]) == 3 and value["mask"][8] == 1
        assert np.array_equal(mask_from_value(value), mask)
        assert np.array_equal(mask_from_value({"grid": [2, 3], "mask": [True, 0, 0, 0, 0, 1]}), mask_of(2, 3, [0, 5]))
        assert mask_from_value(None) is None
        with pytest.raises(ValueError, match="mask"):
            painter_value(Painting(image, np.zeros(49, dtype=bool)))

    @pytest.mark.parametrize("value, reason", [
        ("top half", "grid"), ({"mask": [0]}, "grid"), ({"grid": [7], "mask": []}, "two whole numbers"),
        ({"grid": [0, 7], "mask": []}, "two whole numbers"), ({"grid": [7.0, 7], "mask": [0] * 49}, "two whole"),
        ({"grid": [True, 1], "mask": [0]}, "two whole numbers"), ({"grid": [10**6, 1], "mask": []}, "from 1 to"),
        ({"grid": [2, 2], "mask": [0, 1]}, "needs a mask of 4 values, got 2"),
        ({"grid": [2, 2], "mask": "0101"}, "got str"), ({"grid": [1, 2], "mask": [0, 0.5]}, "0 .generate. or 1"),
        ({"grid": [1, 2], "mask": [0, "1"]}, "0 .generate. or 1"),
    ])
    def test_malformed_masks_say_what_is_wrong(self, value, reason):
        with pytest.raises(ValueError, match=reason):
            mask_from_value(value)

    @pytest.mark.parametrize("url, reason", [
        (None, "data:image"), ("https://example.com/x.png", "data:image"), ("data:text/plain;base64,AAAA", "data:"),
        ("data:image/png;base64,@@@@", "not valid base64"), ("data:image/png;base64,AAAA", "not an image"),
    ])
    def test_bad_data_urls(self, url, reason):
        with pytest.raises(ValueError, match=reason):
            decode_data_url(url)

    def test_data_urls_keep_the_upload_limits(self, monkeypatch):
        monkeypatch.setattr(widgets, "MAX_FILE_BYTES", 1000)
        with pytest.raises(ValueError, match="over the limit"):
            decode_data_url("data:image/png;base64," + base64.b64encode(b"x" * 3000).decode())
        monkeypatch.undo()
        buf = io.BytesIO()
        Image.new("L", (5000, 4000)).save(buf, format="PNG")  # a few KB that would decode to 20 M pixels
        with pytest.raises(ValueError, match="pixels"):
            decode_data_url("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())


class TestComponents:
    def test_painter_in_and_out(self):
        painter = PatchPainter(caption="paint", render=False)
        mask = mask_of(7, 7, [3, 4])
        wire = painter.postprocess(Painting(np.zeros((28, 28, 1), dtype=np.uint8), mask))
        assert np.array_equal(painter.preprocess(wire), mask) and painter.postprocess(None) is None
        assert painter.preprocess(None) is None
        with pytest.raises(gr.Error, match="needs a mask of 49"):
            painter.preprocess({"grid": [7, 7], "mask": [1]})
        assert np.array_equal(painter.preprocess(painter.example_payload()), mask_of(7, 7, list(range(21))))
        assert painter.api_info()["type"] == "object"

    def test_pad_in_and_out(self):
        pad = DrawingPad(caption="draw", render=False)
        drawing = np.full((40, 40), 255, dtype=np.uint8)
        drawing[10:30, 18:22] = 0
        image = pad.preprocess(pad.postprocess(drawing))
        assert isinstance(image, Image.Image) and np.array_equal(np.asarray(image), drawing)
        assert pad.preprocess(None) is None and pad.postprocess(None) is None
        with pytest.raises(gr.Error, match="data:image"):
            pad.preprocess("not a drawing")
