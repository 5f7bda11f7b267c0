"""Every public endpoint of the app, called with gradio_client against a locally launched server."""


import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
import biglearn
from bench.app_latency import free_port
from biglearn import app_support as S
from biglearn.config import BigLearnConfig, ModelConfig

SMALL = dict(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, noise_dim=8,
             noise_depth=2, conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)
CONFIG = ModelConfig(**SMALL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny checkpoint and the image files the calls upload."""
    d = tmp_path_factory.mktemp("server")
    cfg = BigLearnConfig(model=CONFIG)
    torch.manual_seed(0)
    biglearn.save(d / "tiny.safetensors", biglearn.UniversalGenerator(cfg.model), cfg, info={"preset": "tiny"})
    digit = np.load(app.DIGITS)["images"][0]
    value = S.editor_value(digit[..., None], CONFIG, S.quick_mask("top half", (7, 7)))
    Image.fromarray(value["background"]).save(d / "background.png")
    Image.fromarray(value["layers"][0]).save(d / "layer.png")
    Image.fromarray(S.mask_layer(np.ones((7, 7), dtype=bool), CONFIG)).save(d / "all.png")
    sketch = np.full((280, 280, 4), 255, dtype=np.uint8)
    sketch[60:220, 130:150] = (0, 0, 0, 255)
    Image.fromarray(sketch).save(d / "sketch.png")
    Image.fromarray(digit).save(d / "digit.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return d


@pytest.fixture(scope="module")
def client(files):
    demo = app.build_demo(lambda: biglearn.load(files / "tiny.safetensors", "cpu"), "tiny")
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def editor(files, layer="layer.png"):
    return {"background": handle_file(files / "background.png"), "layers": [handle_file(files / layer)],
            "composite": None, "id": None}


def gallery_images(result):
    return [np.asarray(Image.open(item["image"])) for item in result]


def test_inputs(client, files):
    value = client.predict(handle_file(files / "digit.png"), api_name="/upload_image")
    assert Image.open(value["background"]).size == (336, 336)
    value = client.predict({"background": None, "layers": [handle_file(files / "sketch.png")],
                            "composite": handle_file(files / "sketch.png"), "id": None}, api_name="/use_drawing")
    assert Image.open(value["background"]).size == (336, 336)


def test_complete_and_errors(client, files):
    tiles = gallery_images(client.predict(editor(files), 4, 3, api_name="/complete"))
    assert len(tiles) == 4 and tiles[0].shape == (224, 224, 3)
    with pytest.raises(AppError, match="nothing left to generate"):
        client.predict(editor(files, "all.png"), 2, 0, api_name="/complete")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(files / "corrupt.png"), api_name="/upload_image")
    with pytest.raises(AppError):
        client.predict(editor(files), 4, -5, api_name="/complete")
    assert len(client.predict(editor(files), 2, 0, api_name="/complete")) == 2  # still serving


def test_sweep_classify_generate(client, files):
    fig = Image.open(client.predict("raster-first", 2, 0, api_name="/sweep"))
    assert fig.width == 11 * (28 * 4 + 4) + 4
    probs, summary = client.predict(editor(files), api_name="/classify")
    assert "21 of 49 patches kept" in summary
    assert len(probs["confidences"]) == 10
    assert abs(sum(c["confidence"] for c in probs["confidences"]) - 1) < 1e-4
    assert len(client.predict("any", None, 3, 0, api_name="/generate")) == 3
    assert len(client.predict("5", editor(files), 2, 0, api_name="/generate")) == 2


def test_out_of_domain(client, files):
    for name in ("ood_relocate", "ood_duplicate", "ood_mix"):
        digit, donor, preview = client.predict(api_name=f"/{name}")
        assert Image.open(preview).size == (336, 336)
    assert len(client.predict(3, 0, api_name="/ood_complete")) == 3
    digit, donor, preview = client.predict(handle_file(files / "digit.png"), api_name="/ood_upload")
    assert Image.open(donor).size == (336, 336)


def test_checkpoints(client, files):
    card, *_ = client.predict(str(files / "missing.safetensors"), api_name="/load_checkpoint")
    card, *_ = client.predict(str(files / "tiny.safetensors"), api_name="/load_checkpoint")
    assert "tiny.safetensors" in card and "7x7 patch grid" in card
    card, *_ = client.predict(handle_file(files / "tiny.safetensors"), api_name="/upload_checkpoint")
    assert "7x7 patch grid" in card
    assert len(client.predict(editor(files), 1, 0, api_name="/complete")) == 1
