"""The app's handlers called directly, over a tiny random-weight model (fast, no server)."""

import io
from dataclasses import replace
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
import biglearn
from tests.helpers import save_tiny
from webapp import handlers, inputs, layout, model_slot, settings


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture
def h(ckpt):
    return handlers.Handlers(model_slot.ModelSlot(lambda: biglearn.load(ckpt, "cpu"), "tiny"))


@pytest.fixture
def digit(h):
    return handlers.as_hwc(h.digits[0])


def select(index):
    return gr.SelectData(None, {"index": index, "value": None})


def painted(mask_rows=slice(0, 3)):
    mask = np.zeros((7, 7), dtype=bool)
    mask[mask_rows] = True
    return mask


def png_file(tmp_path, image, name="x.png", fmt="PNG"):
    path = tmp_path / name
    Image.fromarray(image).save(path, format=fmt)
    return str(path)


class TestBuild:
    def test_build_demo_loads_nothing(self):
        calls = []
        demo = layout.build_demo(lambda: calls.append(1))
        assert isinstance(demo, gr.Blocks) and calls == []

    def test_start(self, h, digit):
        source, probs, summary, target, ood, d, donor, preview, card, klass = h.start(digit, h.initial_ood())
        assert len(probs) == 10 and summary == "Paint the patches to keep."
        assert np.array_equal(source.image, digit) and source.mask.shape == (7, 7) and not source.mask.any()
        assert (target.image == 128).all() and not target.mask.any()  # a grey canvas for marginals
        assert d.shape == donor.shape == preview.shape == (336, 336, 3)
        assert "tiny" in card and klass["choices"][:2] == ["any", "0"] and len(klass["choices"]) == 11


class TestMain:
    def test_serves_the_given_checkpoint(self, ckpt, monkeypatch):
        calls = []
        monkeypatch.setattr(app, "launch", lambda demo, **kw: calls.append((demo, kw)))
        app.main(["--checkpoint", str(ckpt), "--port", "7999"])
        (demo, kw), = calls
        assert isinstance(demo, gr.Blocks) and kw == {"server_port": 7999, "share": False}

    def test_bad_checkpoint_stops_with_its_reason(self, tmp_path, capsys):
        with pytest.raises(SystemExit):
            app.main(["--checkpoint", str(tmp_path / "missing.safetensors")])
        assert "checkpoint not found" in capsys.readouterr().err


class TestInputs:
    def test_pick_example(self, h):
        image, shown = h.pick_example(select(3))
        assert np.array_equal(image[..., 0], h.digits[3]) and np.array_equal(shown.image, image)
        assert not shown.mask.any()

    def test_upload_any_image(self, h, tmp_path):
        rgba = np.zeros((300, 200, 4), dtype=np.uint8)
        rgba[50:250, 90:110] = (0, 0, 0, 255)  # a black bar on a transparent (-> white) background
        image, _ = h.upload_image(png_file(tmp_path, rgba))
        assert image.shape == (28, 28, 1) and image[0, 0, 0] == 0 and image.max() > 200

    def test_bad_uploads(self, h, tmp_path):
        (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        with pytest.raises(gr.Error, match="not an image"):
            h.upload_image(str(tmp_path / "bad.png"))
        with pytest.raises(gr.Error, match="No file"):
            h.upload_image(None)

    def test_drawing(self, h):
        canvas = np.full((280, 280, 4), 255, dtype=np.uint8)
        canvas[60:220, 130:150] = (0, 0, 0, 255)
        image, shown = h.use_drawing(Image.fromarray(canvas))
        assert image[0, 0, 0] == 0 and image[14, 14, 0] > 128  # inverted and centred
        assert np.array_equal(shown.image, image) and not shown.mask.any()
        with pytest.raises(gr.Error, match="Draw something"):
            h.use_drawing(Image.fromarray(np.full((280, 280, 4), 255, dtype=np.uint8)))  # blank
        with pytest.raises(gr.Error, match="Draw something"):
            h.use_drawing(None)

    def test_quick_masks(self, h, digit):
        top = h.quick_mask("top half", digit, None, 0.3)
        assert np.array_equal(top.mask, painted()) and np.array_equal(top.image, digit)
        assert np.array_equal(h.quick_mask("invert", digit, top.mask, 0.3).mask, ~painted())
        assert np.array_equal(h.quick_mask("invert", digit, None, 0.3).mask, np.ones((7, 7), dtype=bool))
        assert h.quick_mask("random", digit, None, 0.5).mask.sum() == round(0.5 * 49)
        assert 0 <= h.new_seed() <= inputs.MAX_UI_SEED - settings.MAX_SAMPLES


class TestComplete:
    def test_completions(self, h, digit):
        out = h.complete(digit, painted(), 4, 10)
        assert [cap for _, cap in out] == ["seed 10", "seed 11", "seed 12", "seed 13"]
        tile = out[0][0]
        assert tile.shape == (224, 224, 3) and tile.dtype == np.uint8
        kept = np.repeat(np.repeat(digit[:12, :, 0], 8, 0), 8, 1)
        assert np.array_equal(tile[8:88, 8:216, 0], kept[8:88, 8:216])  # sources copied exactly (inside outline)
        again = h.complete(digit, painted(), 4, 10)
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(out, again, strict=True))

    def test_a_mask_of_another_grid_is_refused(self, h, digit):
        other_grid = np.ones((4, 4), dtype=bool)  # painted under another checkpoint
        for call in (lambda: h.complete(digit, other_grid, 2, 0), lambda: h.classify(digit, other_grid),
                     lambda: h.generate("any", other_grid, 2, 0)):
            with pytest.raises(gr.Error, match="4x4 patch grid.*7x7"):
                call()

    def test_empty_mask_is_joint_generation(self, h, digit, capsys):
        out = h.complete(digit, None, 2, 0)
        assert len(out) == 2 and "joint generation" in capsys.readouterr().out

    def test_all_source_is_refused(self, h, digit):
        with pytest.raises(gr.Error, match="nothing left to generate"):
            h.complete(digit, np.ones((7, 7), dtype=bool), 2, 0)

    @pytest.mark.parametrize("n, seed", [(2, -1), (2, 2**31), (2, None), (0, 0), (17, 0), (2, 0.5)])
    def test_bad_numbers(self, h, digit, n, seed):
        with pytest.raises(gr.Error):
            h.complete(digit, None, n, seed)

    def test_sweep(self, h, digit):
        fig = h.sweep(digit, "random", 2, 0)
        f = 4  # 28 -> 112 pixel cells
        assert fig.dtype == np.uint8 and fig.shape[1] == 11 * (28 * f + 4) + 4
        assert fig.shape[0] > 2 * (28 * f + 4) + 4  # plus the label band
        assert h.sweep(digit, "raster-first", 1, 0).shape[0] < fig.shape[0]


class TestClassifyGenerate:
    def test_classify(self, h, digit):
        probs, summary = h.classify(digit, painted())
        assert list(probs) == [str(k) for k in range(10)] and abs(sum(probs.values()) - 1) < 1e-5
        assert "21 of 49 patches kept" in summary
        whole, summary = h.classify(digit, None)
        assert "Nothing painted" in summary and probs != whole
        assert whole == h.classify(digit, np.ones((7, 7), dtype=bool))[0]

    def test_unlabelled_model(self, tmp_path, digit):
        path = save_tiny(tmp_path / "unlabelled.safetensors", num_classes=0)
        h = handlers.Handlers(model_slot.ModelSlot(lambda: biglearn.load(path, "cpu")))
        assert "without labels" in h.classify(digit, None)[0]
        assert h.class_choices(h.model.config)["choices"] == ["any"]

    def test_joint_and_class_conditional(self, h):
        assert len(h.generate("any", None, 3, 0)) == 3
        assert len(h.generate("7", None, 2, 0)) == 2
        with pytest.raises(gr.Error, match="class"):
            h.generate("seven", None, 2, 0)
        with pytest.raises(gr.Error, match="from 0 to 9"):
            h.generate("12", None, 2, 0)

    def test_marginal(self, h):
        (tile, _), = h.generate("any", painted(slice(0, 2)), 1, 0)
        assert tile[200, 100].tolist() == [128, 128, 128]  # outside T: neutral grey


class TestOutOfDomain:
    def test_clicks_and_complete(self, h):
        ood = h.initial_ood()
        ood = h.ood_click_donor(ood, select([60, 60]))[0]  # patch (1, 1)
        ood = h.ood_click_donor(ood, select([110, 60]))[0]  # patch (1, 2)
        ood = h.ood_click_digit(ood, settings.OOD_DEST, select([300, 300]))[0]  # first pick -> (6, 6)
        ood = h.ood_click_digit(ood, settings.OOD_KEEP, select([5, 5]))[0]  # keep (0, 0)
        assert ood.picks == [8, 9] and ood.dests == [48] and ood.keep == [0]
        composite, source = h.ood_compose(ood, h.model.config)
        assert sorted(np.flatnonzero(source)) == [0, 9, 48]
        assert np.array_equal(composite[24:28, 24:28], ood.donor[4:8, 4:8])
        assert len(h.ood_complete(ood, 3, 0)) == 3
        assert h.ood_click_donor(ood, select([60, 60]))[0].picks == [9]  # a second click unpicks

    def test_choose_upload_and_clear(self, h, tmp_path):
        ood = h.ood_choose_digit(h.initial_ood(), select(4))[0]
        assert ood.digit_index == 4 and np.array_equal(ood.digit[..., 0], h.digits[4])
        ood = h.ood_choose_donor(ood, select(2))[0]
        assert np.array_equal(ood.donor[..., 0], h.fashion[2])
        photo = np.full((50, 80, 3), 240, dtype=np.uint8)
        ood = h.ood_upload_donor(ood, png_file(tmp_path, photo, "photo.jpg", "JPEG"))[0]
        assert ood.donor.shape == (28, 28, 1)
        ood = h.ood_preset("relocate", ood)[0]
        assert h.ood_clear(ood)[0].picks == []
        with pytest.raises(gr.Error, match="No file"):
            h.ood_upload_donor(ood, None)

    @pytest.mark.parametrize("name", ["relocate", "duplicate", "mix"])
    def test_presets(self, h, name):
        ood, digit_pic, donor_pic, preview = h.ood_preset(name, h.initial_ood())
        assert ood.picks and digit_pic.shape == donor_pic.shape == preview.shape == (336, 336, 3)
        if name == "mix":
            assert np.array_equal(ood.donor[..., 0], h.digits[1])
        assert len(h.ood_complete(ood, 2, 0)) == 2

    def test_the_tab_starts_from_the_image_chosen_on_the_left(self, h):
        chosen = handlers.as_hwc(h.digits[3])
        ood = replace(h.initial_ood(), picks=[1, 2])
        state, digit_picture, _, _ = h.ood_take_image(chosen, ood)
        assert np.array_equal(state.digit, chosen) and state.picks == [1, 2]
        assert not np.array_equal(digit_picture, h.ood_views(h.initial_ood(), h.model.config).ood_digit)

    def test_nothing_picked_is_joint(self, h, capsys):
        assert len(h.ood_complete(h.initial_ood(), 2, 0)) == 2
        assert "joint generation" in capsys.readouterr().out


def session(name: str) -> SimpleNamespace:
    """What a handler reads of Gradio's request: the browser session."""
    return SimpleNamespace(session_hash=name)


class TestCheckpoints:
    def test_failed_load_keeps_the_model(self, h, digit, tmp_path):
        model = h.model
        (tmp_path / "bad.safetensors").write_bytes(b"nope")
        for bad in (str(tmp_path / "bad.safetensors"), "", None, "/does/not/exist.safetensors", "a/../b",
                    "user/repo/x/y", "user/repo/weights.bin"):
            with pytest.raises(gr.Error, match="Could not load"):  # an error for API clients too
                h.load_checkpoint(bad, digit, h.initial_ood(), session("a"))
            assert h.model_of(session("a")) is model
        assert len(h.complete(digit, None, 1, 0, session("a"))) == 1  # still working

    def test_paths_outside_the_allowed_folders_are_refused(self, ckpt, digit, tmp_path):
        """Outside the allowed folders a missing file and an unreadable one get the same answer (no probing)."""
        path = save_tiny(tmp_path / "other.safetensors", patch_size=7)
        closed = handlers.Handlers(model_slot.ModelSlot(lambda: biglearn.load(ckpt, "cpu"), "tiny"))
        with pytest.raises(gr.Error, match="only inside the folders"):
            closed.load_checkpoint(str(path), digit, closed.initial_ood(), session("a"))
        with pytest.raises(gr.Error, match="only inside the folders"):  # no way out through ..
            closed.load_checkpoint(str(settings.ASSETS / ".." / "README.md"), digit, closed.initial_ood(),
                                   session("a"))
        for probe in ("/etc/shadow", "/no/such/file.safetensors"):
            with pytest.raises(gr.Error) as refused:
                closed.load_checkpoint(probe, digit, closed.initial_ood(), session("a"))
            assert "only inside the folders" in str(refused.value) and "not found" not in str(refused.value)
        # an upload is a file the visitor sent: always allowed, and named without its server path
        card = closed.upload_checkpoint(str(path), digit, closed.initial_ood(), session("a"))[0]
        assert "4x4 patch grid" in card and str(tmp_path) not in card and "uploaded other.safetensors" in card

    def test_the_bundled_checkpoint_shows_its_model_card(self, ckpt):
        bundled = handlers.Handlers(model_slot.ModelSlot(lambda: biglearn.load(ckpt, "cpu"), str(settings.BUNDLED)))
        assert settings.README.read_text(encoding="utf-8").splitlines()[0] in bundled.card()

    def test_a_load_changes_only_that_session(self, ckpt, digit, tmp_path):
        h = handlers.Handlers(model_slot.ModelSlot(lambda: biglearn.load(ckpt, "cpu"), "tiny"), allow_paths=(tmp_path,))
        before = h.complete(digit, None, 2, 5, session("b"))
        path = save_tiny(tmp_path / "other.safetensors", patch_size=7)
        card, klass, source, target, ood, *pictures = h.load_checkpoint(str(path), digit, h.initial_ood(),
                                                                         session("a"))
        assert "4x4 patch grid" in card and "Model card" not in card
        assert source.mask.shape == target.mask.shape == (4, 4) and len(pictures) == 3
        assert h.model_of(session("a")).config.patch_size == 7
        assert len(h.complete(digit, None, 1, 0, session("a"))) == 1
        ood = h.ood_preset("relocate", h.initial_ood(), session("a"))[0]
        assert len(h.ood_complete(ood, 1, 0, session("a"))) == 1
        # the other session (and a call without one) still has the default model, bit for bit
        assert "7x7 patch grid" in h.card(session("b")) and h.model_of(None) is h.model
        after = h.complete(digit, None, 2, 5, session("b"))
        assert all(np.array_equal(x[0], y[0]) for x, y in zip(before, after, strict=True))
        # the same file loaded by a second session is one model in the shared cache
        h.load_checkpoint(str(path), digit, h.initial_ood(), session("c"))
        assert h.model_of(session("c")) is h.model_of(session("a")) and h.sessions.loaded() == 1
        h.forget_session(session("a"))
        assert h.model_of(session("a")) is h.model


def test_png_of_tiles_round_trips(h, digit):
    """What the gallery sends is lossless: a tile survives PNG exactly."""
    tile = h.complete(digit, None, 1, 0)[0][0]
    buf = io.BytesIO()
    Image.fromarray(tile).save(buf, format="PNG")
    assert np.array_equal(np.asarray(Image.open(buf)), tile)


class TestOneModelPerRequest:
    """Every handler reads the shared model once: a swap in the middle of a request cannot mix two models."""

    class SwappingSlot:
        """Hands out `first` once, then `second` on every later read (a swap right after the first read)."""

        def __init__(self, first, second):
            self.models, self.name = [first, second], "swapping"

        def get(self):
            return self.models.pop(0) if len(self.models) > 1 else self.models[0]

    @pytest.mark.parametrize("name", ["relocate", "duplicate", "mix"])
    def test_a_swap_during_a_preset_does_not_mix_models(self, tmp_path, name):
        small = biglearn.load(save_tiny(tmp_path / "a.safetensors"), "cpu")
        large = biglearn.load(save_tiny(tmp_path / "b.safetensors", height=56, width=56, patch_size=8), "cpu")
        steady = handlers.Handlers(model_slot.ModelSlot(lambda: small, "a"))
        swapping = handlers.Handlers(self.SwappingSlot(small, large))
        expected = steady.ood_preset(name, steady.initial_ood())
        got = swapping.ood_preset(name, steady.initial_ood())
        for a, b in zip(expected[1:], got[1:], strict=True):
            assert a.shape == b.shape and np.array_equal(a, b)


def test_allow_path_must_be_a_directory(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        app.main(["--allow-path", str(tmp_path / "nope")])
    assert stop.value.code == 2 and "not a directory" in capsys.readouterr().err


def test_typed_sources_are_checked():
    from webapp.sessions import checked_source

    assert checked_source("user/repo", ()) == "user/repo"
    assert checked_source("user/repo/model.safetensors", ()) == "user/repo/model.safetensors"
    for bad, why in (("", "Hub id"), ("../x/y", "only inside"), ("a/b/c/d", "looks like"), ("a/../b", "looks like"),
                     ("u/r/f.bin", ".safetensors"), (str(settings.BUNDLED), "only inside")):
        with pytest.raises(ValueError, match=why):
            checked_source(bad, ())
    assert checked_source(str(settings.BUNDLED), (settings.ASSETS,)) == str(settings.BUNDLED.resolve())


def test_messages_are_plain_text_for_api_clients():
    from webapp.refusals import message

    assert message(ValueError("the class 'x' is not a digit")) == "The class 'x' is not a digit"
    assert message(ValueError("<b>bold</b>")) == "&lt;b&gt;bold&lt;/b&gt;"  # the page renders HTML
    assert message(ValueError("nobody/model is not a local file")) == "nobody/model is not a local file"


class TestMaskFiles:
    def test_download_then_upload_round_trips(self, h, digit):
        mask = inputs.quick_mask("top half", (7, 7))
        png, js = h.download_mask(mask)
        assert Image.open(png).size == (7 * 16, 7 * 16)
        for path in (png, js):
            assert np.array_equal(h.upload_mask(path, digit).mask, mask)

    def test_bad_mask_files_are_refused_readably(self, h, digit, tmp_path):
        Image.fromarray(np.zeros((50, 30), dtype=np.uint8)).save(tmp_path / "odd.png")
        Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(tmp_path / "grid8.png")  # 8x8 patches of 8 px
        (tmp_path / "text.png").write_text("not an image")
        (tmp_path / "bad.json").write_text('{"grid": [4, 4], "mask": [1]}')
        (tmp_path / "other.json").write_text('{"grid": [4, 4], "mask": ' + str([0] * 16) + "}")
        (tmp_path / "junk.json").write_text("{nope")
        for name, why in (("odd.png", "whole multiple"), ("grid8.png", "whole multiple"), ("text.png", "PNG"),
                          ("bad.json", "needs a mask of 16"), ("other.json", "4x4 grid"), ("junk.json", "JSON")):
            with pytest.raises(gr.Error, match=why):
                h.upload_mask(str(tmp_path / name), digit)
        with pytest.raises(gr.Error, match="No file"):
            h.upload_mask(None, digit)
