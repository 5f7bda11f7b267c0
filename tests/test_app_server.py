"""Every public endpoint of the app, called with gradio_client against a locally launched server."""


import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
import biglearn
from biglearn.config import ModelConfig
from tests.helpers import SMALL, save_tiny
from webapp import inputs, layout, settings
from webapp.headless import free_port
from webapp.widgets import decode_data_url, png_data_url

CONFIG = ModelConfig(**SMALL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny checkpoint and the image files the calls upload."""
    d = tmp_path_factory.mktemp("server")
    save_tiny(d / "tiny.safetensors")
    digit = np.load(settings.DIGITS)["images"][0]
    Image.fromarray(digit).save(d / "digit.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return d


@pytest.fixture(scope="module")
def client(files):
    demo = layout.build_demo(lambda: biglearn.load(files / "tiny.safetensors", "cpu"), "tiny", allow_paths=(files,))
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def painted(mask):
    """A painter value as an API client sends it (the image is optional)."""
    return {"grid": list(mask.shape), "mask": mask.reshape(-1).astype(int).tolist()}


TOP = painted(inputs.quick_mask("top half", (7, 7)))
ALL = painted(np.ones((7, 7), dtype=bool))


def gallery_images(result):
    return [np.asarray(Image.open(item["image"])) for item in result]


def test_inputs(client, files):
    value = client.predict(handle_file(files / "digit.png"), api_name="/upload_image")
    assert value["grid"] == [7, 7] and value["mask"] == [0] * 49
    assert decode_data_url(value["image"]).size == (28, 28)
    sketch = np.full((280, 280), 255, dtype=np.uint8)
    sketch[60:220, 130:150] = 0
    value = client.predict(png_data_url(sketch), api_name="/use_drawing")
    assert decode_data_url(value["image"]).size == (28, 28) and value["mask"] == [0] * 49
    for bad in (None, "data:image/png;base64,AAAA", "not a url"):
        with pytest.raises(AppError, match="(?i)draw something|not an image|data:image"):
            client.predict(bad, api_name="/use_drawing")


def test_complete_and_errors(client, files):
    tiles = gallery_images(client.predict(TOP, 4, 3, api_name="/complete"))
    assert len(tiles) == 4 and tiles[0].shape == (224, 224, 3)
    with pytest.raises(AppError, match="nothing left to generate"):
        client.predict(ALL, 2, 0, api_name="/complete")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(files / "corrupt.png"), api_name="/upload_image")
    with pytest.raises(AppError, match="seed must be a whole number from 0 to"):  # the box refuses it
        client.predict(TOP, 4, -5, api_name="/complete")
    for bad in (1.5, True, "3", None):  # refused by name, not rounded to 2 or taken as 1
        with pytest.raises(AppError, match=r"seed must be a whole number.*got"):
            client.predict(TOP, 4, bad, api_name="/complete")
        with pytest.raises(AppError, match=r"samples must be a whole number from 1 to 16, got"):
            client.predict(TOP, bad, 0, api_name="/complete")
    with pytest.raises(AppError, match="(?i)the class must be"):
        client.predict("²", None, 2, 0, api_name="/generate")
    for bad, reason in (({"grid": [7, 7], "mask": [1] * 5}, "needs a mask of 49"),
                        ({"grid": [7, 7], "mask": [2] * 49}, "0 .generate. or 1"),
                        ({"grid": "7x7", "mask": []}, "grid must be"), ("top half", "grid")):
        with pytest.raises(AppError, match=reason):
            client.predict(bad, 2, 0, api_name="/complete")
    with pytest.raises(AppError, match="4x4 patch grid"):
        client.predict(painted(np.ones((4, 4), dtype=bool)), 2, 0, api_name="/complete")
    assert len(client.predict(TOP, 2, 0, api_name="/complete")) == 2  # still serving


def test_sweep_classify_generate(client, files):
    fig = Image.open(client.predict("raster-first", 2, 0, api_name="/sweep"))
    assert fig.width == 11 * (28 * 4 + 4) + 4
    probs, summary = client.predict(TOP, api_name="/classify")
    assert "21 of 49 patches kept" in summary
    assert len(probs["confidences"]) == 10
    assert abs(sum(c["confidence"] for c in probs["confidences"]) - 1) < 1e-4
    assert len(client.predict("any", None, 3, 0, api_name="/generate")) == 3
    assert len(client.predict("5", TOP, 2, 0, api_name="/generate")) == 2


def test_out_of_domain(client, files):
    for name in ("ood_relocate", "ood_duplicate", "ood_mix"):
        digit, donor, preview = client.predict(api_name=f"/{name}")
        assert Image.open(preview).size == (336, 336)
    assert len(client.predict(3, 0, api_name="/ood_complete")) == 3
    digit, donor, preview = client.predict(handle_file(files / "digit.png"), api_name="/ood_upload")
    assert Image.open(donor).size == (336, 336)


def test_checkpoints(client, files):
    with pytest.raises(AppError, match="Could not load"):
        client.predict(str(files / "missing.safetensors"), api_name="/load_checkpoint")
    card, *_ = client.predict(str(files / "tiny.safetensors"), api_name="/load_checkpoint")
    assert "tiny.safetensors" in card and "7x7 patch grid" in card
    card, *_ = client.predict(handle_file(files / "tiny.safetensors"), api_name="/upload_checkpoint")
    assert "7x7 patch grid" in card and "/tmp" not in card
    assert len(client.predict(TOP, 1, 0, api_name="/complete")) == 1


def test_a_load_in_one_session_leaves_the_other_alone(client, files):
    """Two browser sessions: one loads a 4x4-grid checkpoint; the other keeps the default, bit for bit."""
    url = client.src
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    before = gallery_images(b.predict(TOP, 2, 3, api_name="/complete"))
    save_tiny(files / "four.safetensors", patch_size=7)
    card, *_ = a.predict(str(files / "four.safetensors"), api_name="/load_checkpoint")
    assert "4x4 patch grid" in card
    after = gallery_images(b.predict(TOP, 2, 3, api_name="/complete"))
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))
    top4 = painted(inputs.quick_mask("top half", (4, 4)))
    assert len(a.predict(top4, 1, 0, api_name="/complete")) == 1
    with pytest.raises(AppError, match="only inside the folders"):  # refused: nothing changes
        a.predict("/etc/hostname", api_name="/load_checkpoint")
    assert len(a.predict(top4, 1, 0, api_name="/complete")) == 1


def test_a_hanging_load_does_not_delay_another_session(client, files, monkeypatch):
    import threading
    import time

    from webapp import sessions

    release = threading.Event()
    real = sessions.load_model

    def slow(path, *args, **kwargs):  # a Hub download that hangs: held until the test lets it go
        release.wait(30)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sessions, "load_model", slow)
    save_tiny(files / "slow.safetensors", patch_size=14)
    url = client.src
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    b.predict(TOP, 1, 0, api_name="/complete")  # warm
    job = a.submit(str(files / "slow.safetensors"), api_name="/load_checkpoint")
    time.sleep(0.5)
    start = time.monotonic()
    assert len(b.predict(TOP, 1, 0, api_name="/complete")) == 1
    waited = time.monotonic() - start
    release.set()
    assert "2x2 patch grid" in job.result(timeout=60)[0]
    assert waited < 1.0, f"another session's Complete waited {waited:.1f} s behind a load"



def test_readme_api_snippet_and_raw_samples_are_the_librarys(client, files):
    """The README's API snippet runs as written (against this server and a real file) and /complete_raw
    returns exactly the library's samples for those seeds."""
    from pathlib import Path

    from webapp import images

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## The app", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    block = block.replace("http://127.0.0.1:7860/", client.src).replace("my_digit.png", str(files / "digit.png"))
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - our own documentation
    raw = scope["raw"]
    assert raw["shape"] == [2, 1, 28, 28] and raw["seeds"] == [0, 1] and raw["source"] == [1] * 21 + [0] * 28
    m = biglearn.load(files / "tiny.safetensors", "cpu")
    image = images.load_image(str(files / "digit.png"), m.config)
    source = np.array(raw["source"], dtype=bool)
    expected = m.complete(image[None], source[None], seeds=[0, 1])[0]
    assert np.array_equal(np.asarray(raw["samples"], dtype=np.float32), expected.numpy())
    gen = client.predict("3", None, 2, 4, api_name="/generate_raw")
    assert gen["shape"] == [2, 1, 28, 28] and gen["seeds"] == [4, 5]
    import torch

    assert np.array_equal(np.asarray(gen["samples"], dtype=np.float32),
                          m.generate(2, seeds=[4, 5], labels=torch.full((2,), 3)).numpy())


def test_a_huge_body_gets_413_at_once_and_others_are_served_meanwhile(client):
    import http.client
    import threading
    import time
    from urllib.parse import urlparse

    from webapp.limits import MAX_BODY

    where = urlparse(client.src)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    big = b'{"data": [' + b"1," * (24 * 1024 * 1024) + b'1]}'  # a 48 MB mask list
    start = time.monotonic()
    conn.putrequest("POST", "/gradio_api/queue/join")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(big)))
    conn.endheaders()
    try:
        conn.send(big)
    except OSError:
        pass  # refused before the body was read: the server closed the connection
    status = conn.getresponse().status
    assert status == 413 and time.monotonic() - start < 5

    # a body that streams past the limit without declaring its length, while another request is answered
    def stream() -> None:
        c = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        try:
            c.putrequest("POST", "/gradio_api/queue/join")
            c.putheader("Transfer-Encoding", "chunked")
            c.putheader("Content-Type", "application/json")
            c.endheaders()
            chunk = b"1," * 65536
            for _ in range(4 * MAX_BODY // len(chunk)):
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(0.005)
        except OSError:
            pass  # the server stopped reading: what the limit is for
        finally:
            c.close()

    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(0.2)
    info = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    start = time.monotonic()
    info.request("GET", "/gradio_api/info")
    assert info.getresponse().status == 200 and time.monotonic() - start < 1.0
    sender.join(60)
    assert len(client.predict(TOP, 1, 0, api_name="/complete")) == 1  # the server is fine


def test_served_files_are_deleted_once_old(files):
    """delete_cache: the tiles a call wrote into Gradio's cache are gone once older than the age asked (here
    1 s, checked every second); the example strips the page keeps are not touched."""
    import os
    import time

    demo = layout.build_demo(lambda: biglearn.load(files / "tiny.safetensors", "cpu"), "tiny", delete_cache=(1, 1))
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        keep = {f for block in demo.blocks.values() for f in getattr(block, "keep_in_cache", set())}
        # no download: on a loaded machine the 1-second cache age can pass before the client would fetch the tiles
        Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False).predict(
            TOP, 3, 0, api_name="/complete")
        made = [f for s in demo.temp_file_sets for f in s if f not in keep]
        assert len(made) >= 3 and all(os.path.exists(f) for f in made)
        deadline = time.monotonic() + 20
        while any(os.path.exists(f) for f in made) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(os.path.exists(f) for f in made)
        assert keep and all(os.path.exists(f) for f in keep)
    finally:
        demo.close()


def test_uploads_are_only_of_what_the_inputs_take(client, files):
    import httpx

    from webapp.layout import upload_types

    assert upload_types(layout.build_demo(lambda: None, "x")) == {"image", ".png", ".json", ".safetensors"}
    url = client.src.rstrip("/") + "/gradio_api/upload"
    png = (files / "digit.png").read_bytes()
    ok = httpx.post(url, files=[("files", ("digit.png", png, "image/png"))], timeout=30)
    assert ok.status_code == 200 and ok.json()[0].endswith("digit.png")
    for name in ("payload.bin", "digit.png.exe", "noextension"):
        refused = httpx.post(url, files=[("files", ("a.png", png, "image/png")), ("files", (name, png, "x/y"))],
                             timeout=30)
        assert refused.status_code == 415 and ".safetensors" in refused.text, name


def test_the_load_suites_browser_like_user_speaks_the_pages_protocol(client):
    from bench.reliability import BrowserLikeUser

    user = BrowserLikeUser(client.src)
    try:
        assert user.complete(TOP, 3, 0) == 3
        with pytest.raises(RuntimeError, match="samples must be a whole number"):
            user.complete(TOP, "x", 0)
    finally:
        user.close()


def test_a_session_flooding_the_race_cannot_lock_others_out(client, monkeypatch):
    """Through the page's own protocol: one session joins the race 8 times at once; the guard lets at most one
    run and one wait, refuses the rest with a plain sentence, and another user's Complete goes through."""
    import threading
    import time

    from PIL import Image

    from bench.reliability import BrowserLikeUser
    from biglearn.sims import live
    from webapp import principle

    monkeypatch.setattr(principle, "RACES", principle.RaceCache())  # its fake races must not be replayed later
    release = threading.Event()

    def slow_race(arms, direction, iters, seed, **options):
        release.wait(30)  # holds the race queue without using the CPU
        yield live.LiveFrame(int(iters), int(iters), Image.new("RGB", (8, 8)), {"joint": 0}, True, False)

    monkeypatch.setattr(live, "live_race", slow_race)
    flooder, user, third = (BrowserLikeUser(client.src) for _ in range(3))
    try:
        statuses, details = [], []
        for seed in range(8):
            answer = flooder.http.post("/gradio_api/queue/join", json={
                "data": [["joint"], "reverse", 10, seed], "fn_index": flooder.fn["race"],
                "session_hash": flooder.session, "event_data": None, "trigger_id": None})
            statuses.append(answer.status_code)
            details.append(answer.text)
        assert 1 <= statuses.count(200) <= 2 and statuses.count(503) >= 6
        assert any("You already have 1 race requests waiting" in d for d in details)
        assert user.complete(TOP, 3, 0) == 3  # the model queue is not held up
        other = third.http.post("/gradio_api/queue/join", json={
            "data": [["joint"], "reverse", 10, 99], "fn_index": third.fn["race"], "session_hash": third.session,
            "event_data": None, "trigger_id": None})
        assert other.status_code == 200  # another session may still queue its race
    finally:
        release.set()
        for u in (flooder, user, third):
            u.close()
        time.sleep(1.0)  # the released races end now: their work must not land in a later test's measurement


def test_a_race_stops_within_a_second_of_its_visitor_leaving(client, monkeypatch):
    """Through the page's protocol: a visitor starts a race, reads its first frame and closes the result stream
    (the tab closed); the race, asking its `stop` check every iteration, ends within a second."""
    import json
    import threading
    import time

    from PIL import Image

    from bench.reliability import BrowserLikeUser
    from biglearn.sims import live
    from webapp import principle

    monkeypatch.setattr(principle, "RACES", principle.RaceCache())
    stopped = threading.Event()

    def endless_race(arms, direction, iters, seed, stop=None, **options):
        yield live.LiveFrame(0, int(iters), Image.new("RGB", (8, 8)), {"joint": 0}, False, False)
        for _ in range(3000):  # 30 s unless stopped: each "iteration" 10 ms, asking stop as the real one does
            if stop is not None and stop():
                stopped.set()
                return
            time.sleep(0.01)
        yield live.LiveFrame(int(iters), int(iters), Image.new("RGB", (8, 8)), {"joint": 0}, True, False)

    monkeypatch.setattr(live, "live_race", endless_race)
    visitor = BrowserLikeUser(client.src)
    try:
        joined = visitor.http.post("/gradio_api/queue/join", json={
            "data": [["joint"], "reverse", 10, 5], "fn_index": visitor.fn["race"], "session_hash": visitor.session,
            "event_data": None, "trigger_id": None})
        assert joined.status_code == 200
        with visitor.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": visitor.session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("msg") == "process_generating":
                    break  # the first frame arrived: leave
        left = time.monotonic()
        assert stopped.wait(5.0), "the race ran on after its visitor left"
        assert time.monotonic() - left <= 1.0 + 0.2  # a second, plus this test's polling
    finally:
        visitor.close()


def test_a_page_from_before_a_restart_is_told_once_that_it_is_back_on_the_default(files):
    """A page loaded from one run (its cookie names that run) calls a restarted server with the same session:
    the first call carries one warning, later calls none; the first run itself never warns it."""
    import json
    import uuid

    import httpx

    from webapp import restarts

    def served():
        demo = layout.build_demo(lambda: biglearn.load(files / "tiny.safetensors", "cpu"), "tiny")
        port = free_port()
        app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        return demo, f"http://127.0.0.1:{port}"

    def warnings_of_a_click(http, session):
        fn = {d["api_name"]: d["id"] for d in http.get("/config").json()["dependencies"] if d.get("api_name")}
        joined = http.post("/gradio_api/queue/join", json={"data": [None, TOP, 2, 0], "fn_index": fn["complete"],
                                                            "session_hash": session, "event_data": None,
                                                            "trigger_id": None})
        assert joined.status_code == 200
        said = []
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[6:]) if line.startswith("data: ") else {}
                if message.get("msg") == "log":
                    said.append((message.get("level"), message.get("log")))
                if message.get("msg") == "process_completed":
                    assert message["success"], message
                    return said
        raise AssertionError("no result")

    session = uuid.uuid4().hex
    first, url = served()
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            page = http.get("/")
            assert page.status_code == 200 and http.cookies.get(restarts.COOKIE) == first.restarts.run_id
            assert warnings_of_a_click(http, session) == []
            jar = http.cookies
    finally:
        first.close()
    second, url = served()
    try:
        with httpx.Client(base_url=url, timeout=60, cookies=jar) as http:
            assert warnings_of_a_click(http, session) == [("warning", restarts.MESSAGE)]
            assert warnings_of_a_click(http, session) == []
        with httpx.Client(base_url=url, timeout=60) as api:  # an API client (no page, no cookie): never told
            assert warnings_of_a_click(api, uuid.uuid4().hex) == []
    finally:
        second.close()


def test_ended_sessions_release_their_memory_and_open_pages_keep_theirs(files):
    """API sessions (no heartbeat) that stopped calling are dropped by the sweep, which frees what Gradio kept for
    them (a copy of the page and their last outputs); a session whose page is open (a heartbeat stream) stays."""
    import gc
    import threading
    import time
    import tracemalloc

    import httpx

    from bench.reliability import BrowserLikeUser
    from webapp import session_memory

    demo = layout.build_demo(lambda: biglearn.load(files / "tiny.safetensors", "cpu"), "tiny")
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        def one_session() -> None:
            user = BrowserLikeUser(url)
            user.click("complete_raw", [None, TOP, 4, 0])
            user.close()

        one_session()
        time.sleep(1.0)  # other servers of this process settle: tracemalloc counts every thread
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        n = 12
        for _ in range(n):
            one_session()
        gc.collect()
        kept = (tracemalloc.get_traced_memory()[0] - base) / n
        page = BrowserLikeUser(url)
        page.click("complete_raw", [None, TOP, 4, 0])
        stop = threading.Event()

        def heartbeat() -> None:
            with httpx.stream("GET", f"{url}gradio_api/heartbeat/{page.session}", timeout=60) as stream:
                for _ in stream.iter_lines():
                    if stop.is_set():
                        return

        beating = threading.Thread(target=heartbeat)
        beating.start()
        deadline = time.monotonic() + 10
        while not demo.streams.pages.is_open(page.session) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert demo.streams.pages.is_open(page.session)
        dropped = session_memory.sweep(demo, demo.streams.pages, api_idle_s=0)
        gc.collect()
        left = (tracemalloc.get_traced_memory()[0] - base) / n
        tracemalloc.stop()
        assert dropped >= n and page.session in demo.state_holder.session_data  # the open page keeps its state
        assert kept > 100 * 1024 and left < 100 * 1024, (kept, left)  # KiB per session: before and after
        stop.set()
        page.close()
    finally:
        demo.close()


def test_a_run_of_user_mistakes_leaves_no_traceback_in_the_log(client, capfd, caplog):
    """Each refused input costs one INFO line (endpoint and reason), never a traceback; messages hold no paths or
    exception class names."""
    import logging

    caplog.set_level(logging.INFO, logger="biglearn.app")
    capfd.readouterr()
    mistakes = [((TOP, 2, -5), "/complete"), ((TOP, 2, 1.5), "/complete"),
                (({"grid": [7, 7], "mask": [1] * 5}, 2, 0), "/complete"), (("not a url",), "/use_drawing"),
                (("11", None, 2, 0), "/generate"), (("../../etc/passwd",), "/load_checkpoint")]
    messages = []
    for args, endpoint in mistakes:
        with pytest.raises(AppError) as refused:
            client.predict(*args, api_name=endpoint)
        messages.append(str(refused.value))
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-2000:]
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) >= len(mistakes), lines
    for text in messages:
        assert "/tmp/" not in text and "Error:" not in text.split(":", 1)[-1][:40] and "/work" not in text


def test_an_unreachable_hub_id_is_refused_in_seconds_in_plain_words(client, files, monkeypatch):
    """A Hub lookup fails within 5 s when the Hub cannot be reached, keeps the typed id's case, names no exception
    class and no server path, and another session's Complete meanwhile takes under 3 s; a bogus upload is named
    by its file name, not its place in the server's cache."""
    import threading
    import time

    from gradio_client import Client

    from biglearn import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    other = Client(client.src, verbose=False)
    other.predict(TOP, 2, 0, api_name="/complete")  # its session's first call builds its state
    took = {}

    def complete() -> None:
        start = time.monotonic()
        other.predict(TOP, 2, 0, api_name="/complete")
        took["complete"] = time.monotonic() - start

    worker = threading.Thread(target=complete)
    start = time.monotonic()
    worker.start()
    with pytest.raises(AppError) as refused:
        client.predict("Nobody/Model-X", api_name="/load_checkpoint")
    took["hub"] = time.monotonic() - start
    worker.join()
    text = str(refused.value)
    assert took["hub"] < 5 and took["complete"] < 3, took
    assert "Nobody/Model-X" in text and "could not be reached" in text
    assert not any(bad in text for bad in ("Error:", "NotFound", "/tmp", str(settings.ROOT))), text
    bogus = files / "bogus.safetensors"
    bogus.write_bytes(b"not a checkpoint at all")
    with pytest.raises(AppError) as refused:
        client.predict(handle_file(bogus), api_name="/upload_checkpoint")
    text = str(refused.value)
    assert "uploaded bogus.safetensors" in text and "/tmp" not in text and "gradio" not in text, text


def test_jobs_nobody_listens_for_are_dropped_before_they_run(files, monkeypatch):
    """A client that joins Completes and never reads their results: its waiting job is dropped (after the grace,
    here 0.5 s), so another user's Complete does not wait behind work nobody wants."""
    import time

    from bench.reliability import BrowserLikeUser
    from webapp import queue_guard

    monkeypatch.setattr(queue_guard, "LISTEN_GRACE_S", 0.5)
    monkeypatch.setattr(queue_guard, "CHECK_EVERY_S", 0.2)
    real = biglearn.load(files / "tiny.safetensors", "cpu")
    calls: list[int] = []

    class Slow:
        """The tiny model, 1.5 s a call: jobs stay in the queue long enough to be seen."""

        def __getattr__(self, name):
            return getattr(real, name)

        def complete(self, *args, **kwargs):
            calls.append(1)
            time.sleep(1.5)
            return real.complete(*args, **kwargs)

    slow = Slow()
    demo = layout.build_demo(lambda: slow, "slow")
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        leaver, user = BrowserLikeUser(url), BrowserLikeUser(url)
        for seed in range(2):  # joins and never listens: the first runs at once, the second waits
            answer = leaver.http.post("/gradio_api/queue/join", json={
                "data": [None, TOP, 2, seed], "fn_index": leaver.fn["complete_raw"], "session_hash": leaver.session,
                "event_data": None, "trigger_id": None})
            assert answer.status_code == 200
        time.sleep(1.0)  # past the grace: the waiting job of the leaver is dropped
        start = time.monotonic()
        result = user.click("complete_raw", [None, TOP, 2, 0])
        waited = time.monotonic() - start
        assert result["data"][0]["shape"] == [2, 1, 28, 28]
        assert len(calls) == 2, calls  # the leaver's first job (already running) and the user's: not the dropped one
        assert waited < 1.5 + 1.5 + 1.0  # behind at most the running job, not the dropped one too
        leaver.close()
        user.close()
    finally:
        demo.close()
