"""Unit tests of biglearn.app_support: decoding uploads, preparing inputs, masks, pictures, transplants."""

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import biglearn
from biglearn import masks
from biglearn.config import ModelConfig
from tests.helpers import SMALL, save_tiny
from webapp import images, inputs, model_slot, pictures, transplant

MNIST = ModelConfig(**SMALL)  # 28x28, 1 channel, patch 4 -> 7x7 grid, 10 classes


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (IHDR) claims another size: a decompression-bomb stand-in."""
    data = bytearray(encode(Image.new("L", (1, 1))))
    data[16:20], data[20:24] = width.to_bytes(4, "big"), height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def pen_on_paper(size: int = 280) -> Image.Image:
    """A dark off-centre bar on white paper, like a photo or drawing of a "1"."""
    a = np.full((size, size), 250, dtype=np.uint8)
    a[40:180, 30:70] = 10
    return Image.fromarray(a, "L")


class TestDecode:
    def test_png_bytes_and_path(self, tmp_path):
        img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40), dtype=np.uint8))
        data = encode(img)
        assert np.array_equal(np.asarray(images.decode_image(data)), np.asarray(img))
        (tmp_path / "x.png").write_bytes(data)
        assert images.decode_image(tmp_path / "x.png").size == (40, 30)

    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM"])
    def test_common_formats(self, fmt):
        assert images.decode_image(encode(Image.new("RGB", (33, 21), (200, 10, 10)), fmt)).size == (33, 21)

    def test_garbage_is_refused(self):
        with pytest.raises(ValueError, match="not an image"):
            images.decode_image(b"definitely not an image")

    def test_truncated_is_refused(self):
        img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
        data = encode(img)
        with pytest.raises(ValueError, match="corrupt or truncated"):
            images.decode_image(data[: len(data) // 2])

    def test_unlisted_format_is_refused(self):
        with pytest.raises(ValueError, match="not an image"):
            images.decode_image(encode(Image.new("RGB", (16, 16)), "ICO"))

    @pytest.mark.parametrize("side", [5000, 100_000])
    def test_huge_or_bomb_header_is_refused_before_decoding(self, side):
        with pytest.raises(ValueError, match="pixels|too large"):
            images.decode_image(png_claiming_size(side, side))

    def test_file_size_cap(self, tmp_path):
        data = encode(Image.new("L", (8, 8)))
        (tmp_path / "x.png").write_bytes(data)
        with pytest.raises(ValueError, match="MiB"):
            images.decode_image(tmp_path / "x.png", max_bytes=10)
        with pytest.raises(ValueError, match="MiB"):
            images.decode_image(data, max_bytes=10)

    def test_missing_file(self, tmp_path):
        with pytest.raises(ValueError, match="cannot read"):
            images.decode_image(tmp_path / "nope.png")


class TestPrepare:
    @pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
    def test_every_colour_mode_gives_model_input(self, mode):
        img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (45, 60, 3), dtype=np.uint8)).convert(mode)
        out = images.prepare_image(img, MNIST)
        assert out.shape == (28, 28, 1) and out.dtype == np.uint8

    def test_mnist_digit_is_unchanged(self):
        digit = np.load("assets/examples/mnist_examples.npz")["images"][3]
        assert np.array_equal(images.prepare_image(digit, MNIST)[..., 0], digit)

    def test_light_background_is_inverted(self):
        a = np.full((28, 28), 255, dtype=np.uint8)
        a[5:20, 12:16] = 0
        out = images.prepare_image(a, MNIST)[..., 0]
        assert out[0, 0] == 0 and out[10, 13] == 255
        assert images.is_light_background(a / 255.0) and not images.is_light_background(1 - a / 255.0)

    def test_inversion_can_be_forced_off(self):
        a = np.full((28, 28), 255, dtype=np.uint8)
        assert images.prepare_image(a, MNIST, invert=False)[0, 0, 0] == 255

    def test_drawing_is_framed_like_mnist(self):
        out = images.prepare_image(pen_on_paper(), MNIST)[..., 0].astype(float)
        rows, cols = np.flatnonzero(out.max(1) > 64), np.flatnonzero(out.max(0) > 64)
        assert 19 <= rows[-1] - rows[0] + 1 <= 21  # the longer side fills the 20-pixel box
        assert cols[-1] - cols[0] + 1 < 10
        cy = (out.sum(1) * np.arange(28)).sum() / out.sum()
        cx = (out.sum(0) * np.arange(28)).sum() / out.sum()
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centred by mass, not where it was drawn

    def test_blank_canvas_gives_blank_input(self):
        out = images.prepare_image(Image.new("L", (100, 60), 255), MNIST)
        assert out.shape == (28, 28, 1) and out.max() == 0

    def test_colour_model(self):
        cfg = ModelConfig(**{**SMALL, "height": 16, "width": 16, "channels": 3})
        out = images.prepare_image(Image.new("RGB", (64, 32), (255, 0, 0)), cfg)
        assert out.shape == (16, 16, 3) and tuple(out[8, 8]) == (255, 0, 0)

    def test_bad_arrays(self):
        for bad in (np.zeros((5, 5), np.float32), np.zeros((5, 5, 2), np.uint8), np.zeros(5, np.uint8)):
            with pytest.raises(ValueError, match="uint8"):
                images.prepare_image(bad, MNIST)

    def test_unsupported_channels(self):
        with pytest.raises(ValueError, match="1- or 3-channel"):
            images.prepare_image(Image.new("L", (28, 28)), ModelConfig(**{**SMALL, "channels": 2}))

    def test_load_image_and_conform(self):
        image = images.load_image(encode(pen_on_paper(), "JPEG"), MNIST)
        assert image.shape == (28, 28, 1)
        assert images.conform(image, MNIST) is image
        rgb = images.conform(image, ModelConfig(**{**SMALL, "height": 16, "width": 16, "channels": 3}))
        assert rgb.shape == (16, 16, 3)

    def test_load_examples(self):
        examples, captions = images.load_examples("assets/examples/fashion_examples.npz")
        assert examples.shape == (10, 28, 28) and captions[0] == "T-shirt/top"
        examples, captions = images.load_examples("assets/examples/mnist_examples.npz")
        assert len(examples) <= 36 and captions[:3] == ["0", "1", "2"]


class TestMasks:
    def test_quick_masks(self):
        g = (7, 7)
        assert inputs.quick_mask("top half", g)[:3].all() and inputs.quick_mask("top half", g).sum() == 21
        assert inputs.quick_mask("left half", g)[:, :3].all() and inputs.quick_mask("left half", g).sum() == 21
        centre = inputs.quick_mask("centre", g)
        assert centre.sum() == 4 and centre[2:4, 2:4].all()
        assert inputs.quick_mask("random", g, ratio=0.3, seed=1).sum() == round(0.3 * 49)
        assert np.array_equal(inputs.quick_mask("random", g, seed=5), inputs.quick_mask("random", g, seed=5))
        assert np.array_equal(inputs.quick_mask("invert", g, current=centre), ~centre)
        assert not inputs.quick_mask("clear", g).any()
        with pytest.raises(ValueError, match="unknown quick mask"):
            inputs.quick_mask("diagonal", g)

    def test_source_summary(self):
        assert "Nothing painted" in inputs.source_summary(np.zeros((7, 7), dtype=bool))
        assert "nothing is left" in inputs.source_summary(np.ones((7, 7), dtype=bool))
        assert "21 of 49 patches kept" in inputs.source_summary(inputs.quick_mask("top half", (7, 7)))

    def test_parse_class(self):
        assert inputs.parse_class("any", 10) is None and inputs.parse_class(None, 10) is None
        assert inputs.parse_class("", 0) is None
        assert inputs.parse_class("7", 10) == 7 and inputs.parse_class(3, 10) == 3
        for bad in ("10", "-1", "seven", "1.5", "²", "٣", "9" * 40):  # no superscripts, other scripts, overflow
            with pytest.raises(ValueError, match="from 0 to 9"):
                inputs.parse_class(bad, 10)
        with pytest.raises(ValueError, match="without labels"):
            inputs.parse_class("1", 0)

    def test_clicks(self):
        assert inputs.cell_at((0, 0), (336, 336), (7, 7)) == 0
        assert inputs.cell_at((335, 335), (336, 336), (7, 7)) == 48
        assert inputs.cell_at((50, 100), (336, 336), (7, 7)) == 2 * 7 + 1
        assert inputs.cell_at((999, -5), (336, 336), (7, 7)) == 6
        assert inputs.toggle([3, 1], 5) == [3, 1, 5] and inputs.toggle([3, 1, 5], 1) == [3, 5]

    def test_seeds(self):
        assert inputs.check_seeds(7, 3) == [7, 8, 9]
        assert inputs.check_seeds(7.0, 2.0) == [7, 8]
        for seed in (-1, 1.5, None, "3", True, inputs.MAX_UI_SEED):
            with pytest.raises(ValueError, match="seed"):
                inputs.check_seeds(seed, 2)
        for n in (0, 17, 2.5, None):
            with pytest.raises(ValueError, match="number of samples"):
                inputs.check_seeds(0, n)


class TestPictures:
    def test_grid_picture(self):
        image = np.zeros((28, 28, 1), dtype=np.uint8)
        pic = pictures.grid_picture(image, MNIST)
        assert pic.shape == (336, 336, 3)
        assert pic[0, 5].tolist() != [0, 0, 0] and pic[47, 5].tolist() != [0, 0, 0]  # grid lines at patch edges
        assert pic[20, 20].tolist() == [0, 0, 0]  # inside a patch

    def test_tiles_are_crisp_and_outlined(self):
        samples = torch.rand(3, 1, 28, 28)
        mask = inputs.quick_mask("top half", (7, 7))
        tiles = pictures.render_tiles(samples, MNIST, mask)
        assert len(tiles) == 3 and tiles[0].shape == (224, 224, 3) and tiles[0].dtype == np.uint8
        plain = pictures.render_tiles(samples, MNIST)[0]
        assert (plain[200:208, 8:16] == plain[200, 8]).all()  # one model pixel = one 8x8 block
        assert (tiles[0] == pictures.SOURCE_OUTLINE).all(-1).any()
        assert not (plain == pictures.SOURCE_OUTLINE).all(-1).any()
        assert Image.open(io.BytesIO(encode(Image.fromarray(tiles[0])))).size == (224, 224)

    def test_thick_outline_inside_the_region(self):
        pic = np.zeros((70, 70, 3), dtype=np.uint8)
        mask = np.zeros((7, 7), dtype=bool)
        mask[2:4, 2:4] = True
        out = pictures.outline_region(pic, mask, (255, 0, 0), 2)
        red = (out == (255, 0, 0)).all(-1)
        assert red[20:22, 20:40].all() and red[20:40, 38:40].all()  # 2-pixel border inside the region
        assert not red[23:37, 23:37].any() and red.sum() == 20 * 20 - 16 * 16
        assert np.array_equal(pictures.outline_region(pic, np.zeros((7, 7), dtype=bool), (255, 0, 0), 2), pic)

    def test_source_view_and_blank(self):
        image = np.full((28, 28, 1), 255, dtype=np.uint8)
        view = pictures.source_view(image, inputs.quick_mask("top half", (7, 7)), MNIST)
        assert view[0, 0, 0] == 255 and view[27, 27, 0] == pictures.blank_image(MNIST)[0, 0, 0] == 128

    def test_marks_and_labels(self):
        pic = pictures.grid_picture(np.zeros((28, 28, 1), dtype=np.uint8), MNIST)
        marked = pictures.mark_patches(pic, [0, 48], (7, 7))
        assert marked.shape == pic.shape and (marked != pic).any()
        assert (marked[100:140, 100:140] == pic[100:140, 100:140]).all()
        labelled = pictures.add_column_labels(pic, ["a", "b"], 100, 4)
        assert labelled.shape[1] == pic.shape[1] and labelled.shape[0] > pic.shape[0]

    def test_column_labels_read_at_a_phones_width(self):
        """The header's text is sized for the picture shown PHONE_FIGURE_PX wide: its digits' ink, scaled down to
        that width, is at least 0.7 x MIN_TEXT_PX tall; a label wider than its column is refused."""
        pic = np.zeros((116, 11 * 116 + 4, 3), dtype=np.uint8)  # a one-row sweep of 28x28 digits at 4x
        labelled = pictures.add_column_labels(pic, ["0.5"] * 11, 112, 4)
        band = labelled[: labelled.shape[0] - pic.shape[0]].min(axis=2)
        rows = np.flatnonzero((band < 128).any(axis=1))
        shown = (rows[-1] - rows[0] + 1) * pictures.PHONE_FIGURE_PX / pic.shape[1]
        assert shown >= 0.7 * pictures.MIN_TEXT_PX
        with pytest.raises(ValueError, match="do not fit"):
            pictures.add_column_labels(pic, ["r=0.55555"] * 11, 112, 4)


class TestTransplant:
    def setup_method(self):
        rng = np.random.default_rng(4)
        self.digit = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
        self.donor = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)

    def patch(self, image, index):
        r, c = divmod(index, 7)
        return image[r * 4:(r + 1) * 4, c * 4:(c + 1) * 4]

    def test_paste_to_destinations_and_keep(self):
        out, src = transplant.transplant(self.digit, self.donor, 4, picks=[10, 11], dests=[0], keep=[48])
        assert np.array_equal(self.patch(out, 0), self.patch(self.donor, 10))  # 1st pick -> 1st destination
        assert np.array_equal(self.patch(out, 11), self.patch(self.donor, 11))  # no destination: same place
        assert np.array_equal(self.patch(out, 48), self.patch(self.digit, 48))
        assert sorted(np.flatnonzero(src)) == [0, 11, 48]

    def test_matches_the_library(self):
        out, src = transplant.transplant(self.digit, self.donor, 4, [3, 4], [20, 21], [1])
        digit, donor = (torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (self.digit, self.donor))
        ref, ref_src = masks.paste_patches(digit, donor, 4, [3, 4], [20, 21], [1])
        assert np.array_equal(out, (ref[0].permute(1, 2, 0) * 255).round().byte().numpy())
        assert np.array_equal(src.ravel(), ref_src[0].numpy())

    def test_nothing_picked(self):
        out, src = transplant.transplant(self.digit, self.donor, 4, [], [], [])
        assert np.array_equal(out, self.digit) and not src.any()

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="differ in shape"):
            transplant.transplant(self.digit, np.zeros((28, 28, 3), dtype=np.uint8), 4, [], [], [])

    def test_presets(self):
        g = (7, 7)
        picks, dests, keep = transplant.preset("relocate", g)
        assert picks == [16, 17, 23, 24] and dests == [0, 1, 7, 8] and keep == []
        assert not set(picks) & set(dests)
        picks, dests, keep = transplant.preset("duplicate", g)
        assert keep == picks
        picks, dests, keep = transplant.preset("mix", g)
        # one table with the evaluation (biglearn.masks.abused_layout): rows 1-3 of the digit, rows 4-5 of the donor
        assert picks == dests == list(range(28, 42)) and keep == list(range(7, 21))
        with pytest.raises(ValueError, match="unknown preset"):
            transplant.preset("swap", g)


class TestModel:
    @pytest.fixture(scope="class")
    @classmethod
    def ckpt(cls, tmp_path_factory):
        return save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", info={"preset": "tiny", "steps": 3})

    def test_slot_is_lazy_and_swaps(self, ckpt):
        calls = []
        slot = model_slot.ModelSlot(lambda: calls.append(1) or biglearn.load(ckpt, "cpu"), "tiny")
        assert calls == []
        first = slot.get()
        assert slot.get() is first and calls == [1]
        second = slot.load(str(ckpt), "cpu")
        assert slot.get() is second is not first and slot.name == str(ckpt)

    def test_failed_load_keeps_the_model(self, ckpt, tmp_path):
        slot = model_slot.ModelSlot(lambda: biglearn.load(ckpt, "cpu"))
        model = slot.get()
        (tmp_path / "bad.safetensors").write_bytes(b"garbage")
        for bad in (str(tmp_path / "bad.safetensors"), str(tmp_path / "missing.safetensors"), "  "):
            with pytest.raises(ValueError):
                slot.load(bad)
            assert slot.get() is model

    def test_model_card(self, ckpt):
        card = model_slot.model_card(biglearn.load(ckpt, "cpu"), "tiny.safetensors", "## Notes\nhello")
        assert "7x7 patch grid" in card and "| preset | tiny |" in card and card.endswith("hello")

    def test_model_card_shows_no_absolute_path(self, ckpt):
        """The served file and the training data's path stored in the checkpoint are shown as file names."""
        model = biglearn.load(ckpt, "cpu")
        model.info = {**model.info, "data": "/home/trainer/data/mnist_train.npz",
                      "init": {"from": "C:\\runs\\first.safetensors"}}
        card = model_slot.model_card(model, str(ckpt.resolve()))
        assert f"Checkpoint `{ckpt.name}`" in card and "| data | mnist_train.npz |" in card
        assert "| from | first.safetensors |" in card
        assert str(ckpt.parent.resolve()) not in card and "/home/" not in card and "C:" not in card
