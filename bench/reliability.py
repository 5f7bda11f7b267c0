"""`python -m bench.reliability [--quick] [--out FILE.json]`: the fault and load suite (issue 15).

Starts the app (`python app.py`, its own process, its Gradio cache in a temporary folder) and the trainer in
temporary directories, and measures what holds under hostile input, large requests, many users and faults:
1. bad inputs tried per endpoint, and how many were refused with a clear message (not a generic error, not
   accepted);
2. hostile checkpoints loaded through the app (oversized config, wrong shapes, NaN, a pickle, ...): refused or
   not, and the server's peak memory growth while refusing each;
3. a 48 MB request body, declared and streamed: the answer, and the latency of `/gradio_api/info` meanwhile;
4. users x Completes at once: success rate, p50 / p95, throughput, cache size and memory before / after;
5. the trainer SIGKILLed at random moments, resumed each time: steps lost per kill (at most the checkpoint
   interval), and whether the finished run equals an uninterrupted one bit for bit;
6. a full disk (a file-size limit) while a checkpoint is written: the message, the exit status, and whether
   the previous checkpoint is intact;
7. a race flood: one session joins the live race's queue many times at once and re-joins every 0.5 s when
   refused, while another user clicks Complete: that user's success rate and p50 / p95, and how many of the
   flooder's joins the queue guard (webapp/queue_guard.py) let through;
8. memory per session: two rounds of N fresh API sessions (one `/complete_raw` of 16 samples each, then gone);
   the server's RSS after each round's sessions were swept: the second round's growth per session;
9. the cache over a soak (`--soak MINUTES` of users clicking Complete) with the clean-up shortened (env
   BIGLEARN_UPKEEP): files, folders and empty folders during and after one clean-up cycle, and the oldest file;
10. restart leftovers: a server that served files is SIGKILLed and a new one started on the same cache: how
    many of the killed run's files are left after its start-up clean-up;
11. abandoned work: Completes joined by a client that never listens (how many ran), and a race whose visitor
    leaves after the first frame (how long until the race queue is free for another visitor).
The app runs with the shortened upkeep of `UPKEEP` throughout. Prints the tables as Markdown (docs/reliability.md
holds them) and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import http.client
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webapp.headless import free_port

from .hostile import hostile_checkpoints
from .measure import summarise

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"  # 200 labelled digits: the trainer's faults run on them
GENERIC = ("upstream Gradio app has raised an exception", "Traceback", "NoneType", "object has no attribute")


@dataclass(frozen=True)
class Plan:
    """How much to try: the full suite, or a quick pass that checks the machinery (about a minute)."""

    users: int
    completes: int  # per user
    seeds: int  # samples per Complete
    kills: int
    train_steps: int
    body_mb: int
    flood_joins: int  # race joins sent at once by the flooding session
    flood_completes: int  # Completes of the other user meanwhile
    sessions: int = 200  # fresh API sessions per round of the memory section
    soak_minutes: float = 3.0
    abandoned: int = 100  # Completes joined by a client that never listens


FULL = Plan(users=8, completes=10, seeds=8, kills=5, train_steps=400, body_mb=48, flood_joins=70, flood_completes=30)
QUICK = Plan(users=2, completes=2, seeds=2, kills=1, train_steps=40, body_mb=8, flood_joins=8, flood_completes=3,
             sessions=10, soak_minutes=0.25, abandoned=10)
# the served app's upkeep, shortened so that whole cycles fit in the suite (webapp.settings.Upkeep)
UPKEEP = {"cache_every_s": 10.0, "cache_age_s": 30.0, "folder_grace_s": 5.0, "session_idle_s": 3.0,
          "closed_grace_s": 3.0, "sweep_every_s": 2.0}
UPKEEP_ENV = ",".join(f"{k}={v:g}" for k, v in UPKEEP.items())


def progress(message: str) -> None:
    print(f"[reliability] {message}", file=sys.stderr, flush=True)


# --- the app in its own process ------------------------------------------------------------------------------

class ServedApp:
    """`python app.py` on a free port, with its Gradio cache in `cache` and `allowed` as its --allow-path."""

    def __init__(self, checkpoint: str, allowed: Path, cache: Path, log: Path) -> None:
        self.port, self.cache, self.log = free_port(), cache, log
        env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "GRADIO_ANALYTICS_ENABLED": "False",
               "BIGLEARN_UPKEEP": UPKEEP_ENV}
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py", "--checkpoint", checkpoint, "--port", str(self.port),
                 "--allow-path", str(allowed)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not self.answers():
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the app did not answer within 180 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        # what the page itself links to (example thumbnails, the 2-D pictures), written as the app started
        self.page = frozenset(cache.rglob("*"))

    def answers(self) -> bool:
        """Whether the server answers `/gradio_api/info`; RuntimeError once its process has ended."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log.read_text()[-2000:]}")
        try:
            return self.get("/gradio_api/info")[0] == 200
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, path: str, timeout: float = 30) -> tuple[int, float]:
        """GET a path: (status, seconds)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        start = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status, time.perf_counter() - start
        finally:
            conn.close()

    def memory_mib(self) -> dict[str, float]:
        """The server's resident memory now and its peak since the last `reset_peak`, in MiB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return {"rss": int(fields["VmRSS"].split()[0]) / 1024, "peak": int(fields["VmHWM"].split()[0]) / 1024}

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self) -> None:
        """Start a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def cache_size(self) -> dict[str, float]:
        """Files and MiB in the app's Gradio cache, the page's own files (made at start-up) left out."""
        return cache_census(self.cache, self.page)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        self.proc.kill()
        self.proc.wait(30)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cache_census(root: Path, page: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """The cache's files (count, MiB, the oldest's age in s), folders and empty folders (the servers' markers
    and the `page`'s own files, which the page links to as long as the server runs, left out)."""
    now = time.time()
    files, folders, empty = [], 0, 0
    for path in root.rglob("*"):
        if path.relative_to(root).parts[0] == ".biglearn-servers" or path in page:
            continue
        try:
            if path.is_file():
                files.append(path.stat())
            elif path.is_dir():
                folders += 1
                empty += not any(path.iterdir())
        except OSError:  # removed meanwhile by a clean-up
            continue
    return {"files": len(files), "mib": sum(f.st_size for f in files) / 2**20, "folders": folders,
            "empty_folders": empty, "oldest_s": max((now - f.st_mtime for f in files), default=0.0)}


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    """Run a call that should be refused: ("clean", message) for a specific message, ("generic", message) for
    Gradio's generic error or a traceback, ("accepted", "") when it went through."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - every kind of refusal is classified, none may escape
        message = str(exc).strip()
        generic = not message or any(g in message for g in GENERIC)
        return ("generic" if generic else "clean"), message[:160]
    return "accepted", ""


# --- 1. bad inputs -------------------------------------------------------------------------------------------

def bad_inputs(app: ServedApp, grid: tuple[int, int], folder: Path) -> list[dict[str, Any]]:
    """Every endpoint with inputs it must refuse."""
    from gradio_client import Client, handle_file

    gh, gw = grid
    good = {"grid": [gh, gw], "mask": [1] * (gh * gw // 2) + [0] * (gh * gw - gh * gw // 2)}
    corrupt = folder / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    bad_json = folder / "mask.json"
    bad_json.write_text('{"grid": [7, 7], "mask": "everything"}')
    # (a mask of None is no bad input: it is the empty painter, joint generation; so is class None, "any")
    masks = [{"grid": [gh, gw], "mask": [1] * 5}, {"grid": [gh, gw], "mask": [2] * (gh * gw)},
             {"grid": "7x7", "mask": []}, "top half", {"grid": [4, 4], "mask": [1] * 16}, {"mask": [1] * 49}]
    numbers = ["3", None, 1.5, True, -1, 10**9]  # as a count; as a seed the last is 2**31 (10**9 is a fine seed)
    cases: dict[str, list[tuple]] = {
        "/complete": [(m, 2, 0) for m in masks] + [(good, n, 0) for n in numbers]
                     + [(good, 2, s) for s in [*numbers[:-1], 2**31]],
        "/complete_raw": [(masks[0], 2, 0), (good, "3", 0), (good, 2, 1.5)],
        "/classify": [(m,) for m in masks],
        "/generate": [(k, None, 2, 0) for k in ("²", "11", "-1", 3.5, "7; rm -rf /")]
                     + [("any", masks[0], 2, 0), ("any", None, None, 0)],
        "/sweep": [("nonsense", 2, 0), ("raster-first", 0, 0), ("raster-first", 2, "x")],
        "/use_drawing": [(None,), ("not a url",), ("data:image/png;base64,AAAA",)],
        "/upload_image": [(handle_file(corrupt),)],
        "/upload_mask": [(handle_file(bad_json),), (handle_file(corrupt),)],
        "/ood_complete": [("a", 0), (3, 1.5)],
        "/load_checkpoint": [(p,) for p in ("/etc/shadow", "/no/such/file.safetensors", "../../etc/passwd",
                                            "not a hub id!!", "", str(folder / "absent.safetensors"))],
    }
    client = Client(app.url, verbose=False)
    rows = []
    for endpoint, tries in cases.items():
        outcomes = [refusal(functools.partial(client.predict, *args, api_name=endpoint)) for args in tries]
        rows.append({"endpoint": endpoint, "tried": len(tries),
                     "clean": sum(o == "clean" for o, _ in outcomes),
                     "not_clean": [{"input": describe(args), "outcome": o, "message": m}
                                   for args, (o, m) in zip(tries, outcomes, strict=True) if o != "clean"]})
    return rows


def describe(args: tuple) -> str:
    """A short form of a call's inputs for the table (masks by their grid and length)."""
    def one(a: Any) -> str:
        if isinstance(a, dict) and "mask" in a:
            return f"mask(grid={a.get('grid')!r}, {len(a['mask'])} values)"
        return repr(a)[:40]
    return ", ".join(one(a) for a in args)


# --- 2. hostile checkpoints ----------------------------------------------------------------------------------

def hostile_loads(app: ServedApp, files: dict[str, Path]) -> list[dict[str, Any]]:
    """Each hostile file typed as a path (inside --allow-path), and uploaded; peak memory growth while refused."""
    from gradio_client import Client, handle_file

    client = Client(app.url, verbose=False)
    rows = []
    for name, path in files.items():
        for how, args, endpoint in (("path", (str(path),), "/load_checkpoint"),
                                    ("upload", (handle_file(path),), "/upload_checkpoint")):
            before = app.memory_mib()["rss"]
            app.reset_peak()
            start = time.perf_counter()
            outcome, message = refusal(functools.partial(client.predict, *args, api_name=endpoint))
            rows.append({"file": name, "how": how, "bytes": path.stat().st_size, "outcome": outcome,
                         "message": message, "seconds": time.perf_counter() - start,
                         "peak_growth_mib": max(0.0, app.memory_mib()["peak"] - before)})
    return rows


# --- 3. a large body -----------------------------------------------------------------------------------------

def large_body(app: ServedApp, mb: int) -> list[dict[str, Any]]:
    """A `mb` MB JSON body to the queue, once with its length declared and once streamed in chunks, while
    `/gradio_api/info` is asked every 50 ms: the answer to the big body and the slowest info meanwhile."""
    rows = []
    for mode in ("declared", "streamed"):
        latencies: list[float] = []
        stop = threading.Event()
        asker = threading.Thread(target=ask_info, args=(app, stop, latencies), daemon=True)
        asker.start()
        start = time.perf_counter()
        status = send_body(app.port, mb, streamed=mode == "streamed")
        took = time.perf_counter() - start
        time.sleep(0.3)
        stop.set()
        asker.join(60)
        rows.append({"body": f"{mb} MB, {mode}", "status": status, "answered_s": took,
                     "info_requests": len(latencies), "info_max_s": max(latencies) if latencies else None})
    return rows


def ask_info(app: ServedApp, stop: threading.Event, latencies: list[float]) -> None:
    """GET /gradio_api/info every 50 ms until `stop`, appending each latency (inf for a failed request)."""
    while not stop.is_set():
        try:
            latencies.append(app.get("/gradio_api/info", timeout=60)[1])
        except OSError:
            latencies.append(float("inf"))
        time.sleep(0.05)


def send_body(port: int, mb: int, *, streamed: bool) -> int | str:
    """POST a JSON mask list of about `mb` MB to /gradio_api/queue/join; the status, or how it ended."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    chunk = b"1," * 65536
    count = mb * 2**20 // len(chunk)
    try:
        conn.putrequest("POST", "/gradio_api/queue/join")
        conn.putheader("Content-Type", "application/json")
        if streamed:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(len(b'{"data": [') + count * len(chunk) + len(b"1]}")))
        conn.endheaders()
        try:
            pieces = [b'{"data": ['] + [chunk] * count + [b"1]}"]
            for piece in pieces:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if streamed else piece)
            if streamed:
                conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: what the limit is for
        try:
            return conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return f"connection closed ({type(exc).__name__})"
    finally:
        conn.close()


# --- 4. many users -------------------------------------------------------------------------------------------

class BrowserLikeUser:
    """One visitor as the page itself talks to the server: one session, `/gradio_api/queue/join` for a click,
    its event stream `/gradio_api/queue/data` to the result, then a download of every tile."""

    def __init__(self, url: str) -> None:
        import uuid

        import httpx

        self.http = httpx.Client(base_url=url, timeout=120)
        self.session = uuid.uuid4().hex
        config = self.http.get("/config").json()
        self.fn = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}

    def click(self, api_name: str, data: list) -> dict[str, Any]:
        """Run one event (`data`: every input of it, None for the session's states); its output, or a
        RuntimeError with the app's message."""
        joined = self.http.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": self.fn[api_name], "session_hash": self.session, "event_data": None,
            "trigger_id": None})
        joined.raise_for_status()
        event = joined.json()["event_id"]
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[6:]) if line.startswith("data: ") else {}
                if message.get("msg") == "process_completed" and message.get("event_id") == event:
                    if not message.get("success"):
                        raise RuntimeError(message["output"].get("error") or "error")
                    return message["output"]
        raise RuntimeError("the event stream ended without a result")

    def complete(self, mask: dict, seeds: int, seed: int) -> int:
        """A click on Complete (the image is the session's own): how many non-empty tiles were downloaded."""
        tiles = self.click("complete", [None, mask, seeds, seed])["data"][0]
        return sum(bool(self.http.get(item["image"]["url"]).content) for item in tiles)

    def close(self) -> None:
        self.http.close()


def many_users(app: ServedApp, grid: tuple[int, int], plan: Plan) -> dict[str, Any]:
    """`plan.users` sessions clicking Complete `plan.completes` times each, all at once. The users speak the
    page's own protocol over plain HTTP (`BrowserLikeUser`); a gradio_client per user spent 4x the server's CPU
    per call itself, so it measured the load generator more than the app."""
    gh, gw = grid
    top = {"grid": [gh, gw], "mask": [1] * (gw * (gh // 2)) + [0] * (gw * (gh - gh // 2))}
    users = [BrowserLikeUser(app.url) for _ in range(plan.users)]
    for u in users:  # warm-up: each session's first click builds its state
        u.complete(top, plan.seeds, 0)
    before = {"cache": app.cache_size(), "memory": app.memory_mib()}
    times: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def user(index: int) -> None:
        for i in range(plan.completes):
            start = time.perf_counter()
            try:
                tiles = users[index].complete(top, plan.seeds, 1000 * index + i)
                error = "" if tiles == plan.seeds else f"{tiles} tiles"
            except Exception as exc:  # noqa: BLE001 - a failure is counted, not raised
                error = str(exc)[:120] or type(exc).__name__
            with lock:
                (failures.append(error) if error else times.append(time.perf_counter() - start))

    app.reset_peak()
    server_cpu, client_cpu = app.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(plan.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    server_cpu, client_cpu = app.cpu_seconds() - server_cpu, time.process_time() - client_cpu
    for u in users:
        u.close()
    calls = plan.users * plan.completes
    timing = summarise(times) if times else None
    return {"users": plan.users, "completes_each": plan.completes, "seeds": plan.seeds, "calls": calls,
            "succeeded": len(times), "failures": failures[:5], "p50_s": timing and timing.p50,
            "p95_s": timing and timing.p95, "calls_per_s": len(times) / wall, "wall_s": wall,
            "server_cpu_s_per_call": server_cpu / calls, "client_cpu_s_per_call": client_cpu / calls,
            "before": before, "after": {"cache": app.cache_size(), "memory": app.memory_mib()}}


# --- 7. a race flood ------------------------------------------------------------------------------------------

def race_flood(app: ServedApp, grid: tuple[int, int], plan: Plan) -> dict[str, Any]:
    """One session floods the race queue (`plan.flood_joins` joins at once, then one every 0.5 s, never reading
    its results) while another user clicks Complete `plan.flood_completes` times."""
    gh, gw = grid
    top = {"grid": [gh, gw], "mask": [1] * (gw * (gh // 2)) + [0] * (gw * (gh - gh // 2))}
    flooder, user = BrowserLikeUser(app.url), BrowserLikeUser(app.url)
    user.complete(top, 8, 0)  # the session's first click builds its state
    counts = {"accepted": 0, "refused": 0, "other": 0}
    stop = threading.Event()

    def join(seed: int) -> None:
        status = flooder.http.post("/gradio_api/queue/join", json={
            "data": [["joint", "biglearn"], "reverse", 300, seed], "fn_index": flooder.fn["race"],
            "session_hash": flooder.session, "event_data": None, "trigger_id": None}).status_code
        counts["accepted" if status == 200 else "refused" if status == 503 else "other"] += 1

    def flood() -> None:
        for seed in range(plan.flood_joins):  # distinct seeds: no replay from the race cache
            join(seed)
        seed = plan.flood_joins
        while not stop.wait(0.5):
            join(seed)
            seed += 1

    thread = threading.Thread(target=flood)
    thread.start()
    times, failures = [], []
    for i in range(plan.flood_completes):
        start = time.perf_counter()
        try:
            error = "" if user.complete(top, 8, i) == 8 else "missing tiles"
        except Exception as exc:  # noqa: BLE001 - a refusal or failure is counted
            error = str(exc)[:120] or type(exc).__name__
        (failures.append(error) if error else times.append(time.perf_counter() - start))
    stop.set()
    thread.join()
    flooder.close()
    user.close()
    timing = summarise(times) if times else None
    return {"flood_joins": plan.flood_joins, "joins": counts, "completes": plan.flood_completes,
            "succeeded": len(times), "failures": failures[:5], "p50_s": timing and timing.p50,
            "p95_s": timing and timing.p95}


# --- 8. memory per session --------------------------------------------------------------------------------

def fresh_sessions(app: ServedApp, grid: tuple[int, int], count: int) -> list[str]:
    """`count` API sessions one after another, each one `/complete_raw` of 16 samples read to its result, then
    never seen again; the failures."""
    user = BrowserLikeUser(app.url)
    top = half_mask(grid)
    failures = []
    try:
        for seed in range(count):
            user.session = uuid.uuid4().hex
            try:
                user.click("complete_raw", [None, top, 16, seed])
            except Exception as exc:  # noqa: BLE001 - counted
                failures.append(str(exc)[:120] or type(exc).__name__)
    finally:
        user.close()
    return failures


def memory_per_session(app: ServedApp, grid: tuple[int, int], plan: Plan) -> dict[str, Any]:
    """Two rounds of `plan.sessions` fresh sessions, each followed by a wait past the sweep; RSS before, after
    round 1 and after round 2. Round 1 fills the allocator's free lists, so round 2's growth is what each
    further session keeps."""
    wait = UPKEEP["session_idle_s"] + 2 * UPKEEP["sweep_every_s"] + 1
    rss = [app.memory_mib()["rss"]]
    failures = []
    for _ in range(2):
        failures += fresh_sessions(app, grid, plan.sessions)
        time.sleep(wait)
        rss.append(app.memory_mib()["rss"])
    return {"sessions_per_round": plan.sessions, "rss_mib": rss, "failures": failures[:5],
            "kib_per_session": (rss[2] - rss[1]) * 1024 / plan.sessions,
            "kib_per_session_round1": (rss[1] - rss[0]) * 1024 / plan.sessions}


# --- 9. the cache over a soak --------------------------------------------------------------------------------

def half_mask(grid: tuple[int, int]) -> dict[str, Any]:
    """The painter value keeping the top half of a `grid` of patches."""
    gh, gw = grid
    return {"grid": [gh, gw], "mask": [1] * (gw * (gh // 2)) + [0] * (gw * (gh - gh // 2))}


def cache_soak(app: ServedApp, grid: tuple[int, int], plan: Plan) -> dict[str, Any]:
    """`plan.users` users click Complete (8 tiles each) for `plan.soak_minutes`; the cache every 15 s, then after
    one whole clean-up cycle (Gradio's, then ours, then the folder grace)."""
    top = half_mask(grid)
    users = [BrowserLikeUser(app.url) for _ in range(plan.users)]
    stop = threading.Event()
    calls, failures = [0], []
    lock = threading.Lock()

    def user(index: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                users[index].complete(top, 8, 10_000 * index + i)
                with lock:
                    calls[0] += 1
            except Exception as exc:  # noqa: BLE001 - counted
                with lock:
                    failures.append(str(exc)[:120] or type(exc).__name__)
            i += 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(plan.users)]
    for t in threads:
        t.start()
    start, samples = time.monotonic(), []
    while time.monotonic() - start < plan.soak_minutes * 60:
        time.sleep(min(15.0, plan.soak_minutes * 60))
        samples.append({"t_s": round(time.monotonic() - start), **app.cache_size()})
    stop.set()
    for t in threads:
        t.join()
    for u in users:
        u.close()
    cycle = UPKEEP["cache_age_s"] + 2 * UPKEEP["cache_every_s"] + UPKEEP["folder_grace_s"] + 2
    time.sleep(cycle)
    return {"minutes": plan.soak_minutes, "users": plan.users, "calls": calls[0], "failures": failures[:5],
            "during": samples, "after_cycle": app.cache_size(), "waited_s": cycle, "age_bound_s": UPKEEP["cache_age_s"]}


# --- 10. restart leftovers -----------------------------------------------------------------------------------

def restart_leftovers(checkpoint: str, allowed: Path, cache: Path, log: Path, grid: tuple[int, int]) -> dict[str, Any]:
    """A server serves 5 Completes, is SIGKILLed, and a new one starts on the same cache: the killed run's files
    and folders before and after the new server's start-up clean-up."""
    first = ServedApp(checkpoint, allowed, cache, log)
    user = BrowserLikeUser(first.url)
    try:
        for seed in range(5):
            user.complete(half_mask(grid), 4, seed)
    finally:
        user.close()
    first.kill()

    def identity(path: Path) -> tuple[int, int] | None:  # the same name may be written anew by the next run
        try:
            stat = path.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    left = {p: identity(p) for p in cache.rglob("*") if ".biglearn-servers" not in p.parts and p.is_file()}
    before = cache_census(cache)
    second = ServedApp(checkpoint, allowed, cache, log.with_name("restarted.log"))
    try:
        remaining = sorted(str(p.relative_to(cache)) for p, old in left.items() if identity(p) == old)
        after = cache_census(cache, second.page)
    finally:
        second.close()
    return {"killed_run_files": len(left), "before": before, "remaining_after_start": len(remaining),
            "remaining_examples": remaining[:5], "after": after,
            "new_page_files": len(second.page)}


# --- 11. abandoned work --------------------------------------------------------------------------------------

def abandoned_work(app: ServedApp, grid: tuple[int, int], plan: Plan) -> dict[str, Any]:
    """(a) A client joins `plan.abandoned` Completes of 16 samples and never listens: how many ran (the server's
    CPU meanwhile against one Complete's, and the cache files written). (b) A visitor starts a 300-iteration
    race, leaves after its first frame; another visitor's race then starts: after how many seconds."""
    top = half_mask(grid)
    probe = BrowserLikeUser(app.url)
    cpu = app.cpu_seconds()
    probe.complete(top, 16, 0)
    one_call = app.cpu_seconds() - cpu
    leaver = BrowserLikeUser(app.url)
    cpu = app.cpu_seconds()
    statuses = [leaver.http.post("/gradio_api/queue/join", json={
        "data": [None, top, 16, seed], "fn_index": leaver.fn["complete"], "session_hash": leaver.session,
        "event_data": None, "trigger_id": None}).status_code for seed in range(plan.abandoned)]
    time.sleep(10.0)  # past the guard's grace for jobs nobody listens for (5 s)
    completes = {"joined": plan.abandoned, "accepted": statuses.count(200), "refused": statuses.count(503),
                 "server_cpu_s": app.cpu_seconds() - cpu, "one_complete_cpu_s": one_call}
    leaver.close()

    racer, other = BrowserLikeUser(app.url), BrowserLikeUser(app.url)
    try:
        racer.http.post("/gradio_api/queue/join", json={
            "data": [["joint", "biglearn", "biglearn+cond"], "reverse", 300, 4242], "fn_index": racer.fn["race"],
            "session_hash": racer.session, "event_data": None, "trigger_id": None}).raise_for_status()
        with racer.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": racer.session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("msg") == "process_generating":
                    break
        left = time.monotonic()
        other.http.post("/gradio_api/queue/join", json={
            "data": [["joint"], "reverse", 10, 4343], "fn_index": other.fn["race"], "session_hash": other.session,
            "event_data": None, "trigger_id": None}).raise_for_status()
        started = None
        with other.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": other.session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("msg") == "process_starts":
                    started = time.monotonic() - left
                    break
    finally:
        racer.close()
        other.close()
    return {"completes": completes, "race_free_after_leaving_s": started}


# --- 5. and 6. the trainer -----------------------------------------------------------------------------------

def trainer(out: Path, steps: int, *extra: str, limit_file_bytes: int | None = None) -> subprocess.Popen:
    """`python -m train` on the fixture digits (smoke preset, a checkpoint every 2 steps), in its own process."""
    cmd = [sys.executable, "-m", "train", "--data", str(DIGITS), "--out", str(out), "--preset", "smoke",
           "--log-every", "1", "--probe-every", "0", "--sample-every", "0", "--checkpoint-every", "2",
           "--steps", str(steps), *extra]

    def limited() -> None:  # a full disk, as the writer sees it: EFBIG past the size (SIGXFSZ ignored)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limited if limit_file_bytes else None)


def logged_steps(out: Path) -> list[int]:
    """The steps of the complete records in the run's metrics log."""
    path = out / "metrics.jsonl"
    steps = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):
            pass  # a record cut by the kill
    return steps


def checkpoint_step(out: Path) -> int:
    from biglearn.checkpoint import load_resume

    return load_resume(out / "resume.safetensors")[2]["step"]


def same_state(a: Path, b: Path) -> bool:
    """Whether two runs' resume files hold the same tensors (random-generator states aside)."""
    import torch
    from safetensors.torch import load_file

    x, y = load_file(a / "resume.safetensors"), load_file(b / "resume.safetensors")
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x if not k.startswith("rng"))


def kills(tmp: Path, plan: Plan, rng: random.Random) -> dict[str, Any]:
    """One run SIGKILLed `plan.kills` times at random moments (each after a few new steps, plus a random
    0-0.5 s), resumed after each, then finished; compared with the same run uninterrupted."""
    reference, killed = tmp / "reference", tmp / "killed"
    done = trainer(reference, plan.train_steps)
    if done.wait() != 0:
        raise RuntimeError(f"the reference run failed:\n{done.stderr.read()[-2000:]}")
    lost = []
    for _ in range(plan.kills):
        first = not (killed / "resume.safetensors").exists()
        start_steps = len(logged_steps(killed))
        proc = trainer(killed, plan.train_steps, *([] if first else ["--resume"]))
        deadline = time.monotonic() + 120
        while (len(logged_steps(killed)) < start_steps + 5 or not (killed / "resume.safetensors").exists()) \
                and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            break  # it finished before the kill landed: fewer kills than planned
        steps = logged_steps(killed)
        lost.append((max(steps) if steps else 0) - checkpoint_step(killed))
    finish = trainer(killed, plan.train_steps, "--resume")
    rc = finish.wait()
    steps = logged_steps(killed)
    return {"kills": len(lost), "steps": plan.train_steps, "checkpoint_every": 2, "steps_lost": lost,
            "finished": rc == 0, "bit_exact": rc == 0 and same_state(reference, killed),
            "log_monotonic": steps == list(range(1, plan.train_steps + 1))}


def disk_full(tmp: Path) -> dict[str, Any]:
    """A run checkpointed at step 4, resumed with files limited to half a checkpoint: the next write fails."""
    out = tmp / "full"
    first = trainer(out, 4)
    if first.wait() != 0:
        raise RuntimeError(f"the first run failed:\n{first.stderr.read()[-2000:]}")
    files = [out / "model.safetensors", out / "resume.safetensors"]
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    limit = min(p.stat().st_size for p in files) // 2
    proc = trainer(out, 8, "--resume", limit_file_bytes=limit)
    stderr = proc.communicate()[1]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    import biglearn

    intact = all(hashlib.sha256(p.read_bytes()).hexdigest() == digest[p.name] for p in files)
    return {"limit_bytes": limit, "exit_status": proc.returncode, "message": errors[-1] if errors else None,
            "traceback": "Traceback" in stderr, "previous_intact": intact,
            "previous_loads": intact and biglearn.load(out / "model.safetensors").info["steps"] == 4,
            "temporaries_left": sorted(p.name for p in out.glob(".*.tmp"))}


# --- the whole suite -----------------------------------------------------------------------------------------

def run(plan: Plan, checkpoint: str, seed: int = 0) -> dict[str, Any]:
    """Every section; returns the JSON-able results."""
    import biglearn

    grid = biglearn.load(checkpoint, "cpu").config.grid
    results: dict[str, Any] = {"command": " ".join(["python -m bench.reliability", *sys.argv[1:]]),
                               "checkpoint": checkpoint, "plan": plan.__dict__, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "cache").mkdir()
        files = hostile_checkpoints(tmp / "hostile", Path(checkpoint))
        progress("starting the app")
        app = ServedApp(checkpoint, tmp / "hostile", tmp / "cache", tmp / "app.log")
        try:
            progress("bad inputs")
            results["bad_inputs"] = bad_inputs(app, grid, tmp)
            progress("hostile checkpoints")
            results["hostile"] = hostile_loads(app, files)
            progress("large bodies")
            results["large_body"] = large_body(app, plan.body_mb)
            progress(f"{plan.users} users x {plan.completes} Completes")
            results["load"] = many_users(app, grid, plan)
            progress(f"race flood: {plan.flood_joins} joins, {plan.flood_completes} Completes of another user")
            results["race_flood"] = race_flood(app, grid, plan)
            progress(f"memory: 2 rounds of {plan.sessions} fresh sessions")
            results["memory"] = memory_per_session(app, grid, plan)
            progress(f"abandoned work: {plan.abandoned} Completes nobody listens for, a race left after a frame")
            results["abandoned"] = abandoned_work(app, grid, plan)
            progress(f"cache soak: {plan.soak_minutes} min of {plan.users} users, then one clean-up cycle")
            results["soak"] = cache_soak(app, grid, plan)
            results["server_alive"] = app.proc.poll() is None and app.get("/gradio_api/info")[0] == 200
        finally:
            app.close()
        progress("restart leftovers: SIGKILL, then a new server on the same cache")
        (tmp / "cache2").mkdir()
        results["restart"] = restart_leftovers(checkpoint, tmp / "hostile", tmp / "cache2", tmp / "app2.log", grid)
        progress(f"trainer: {plan.kills} SIGKILLs")
        results["kills"] = kills(tmp / "train", plan, random.Random(seed))
        progress("trainer: disk full")
        results["disk_full"] = disk_full(tmp / "train")
    return results


def render(r: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    out = [f"`{r['command']}` on {r['cores']} cores, checkpoint {r['checkpoint']}", "",
           "| endpoint | bad inputs tried | clean message | not clean |", "| --- | ---: | ---: | --- |"]
    for row in r["bad_inputs"]:
        bad = "; ".join(f"{x['input']} → {x['outcome']}" for x in row["not_clean"]) or "–"
        out.append(f"| `{row['endpoint']}` | {row['tried']} | {row['clean']} | {bad} |")
    out += ["", "| hostile checkpoint | size | via | refused cleanly | peak memory growth MiB | s |",
            "| --- | ---: | --- | --- | ---: | ---: |"]
    for row in r["hostile"]:
        out.append(f"| {row['file']} | {row['bytes']:,} B | {row['how']} | "
                   f"{'yes' if row['outcome'] == 'clean' else row['outcome']} | {row['peak_growth_mib']:.1f} | "
                   f"{row['seconds']:.2f} |")
    out += ["", "| large body | answer | answered in s | /gradio_api/info asked | slowest info s |",
            "| --- | --- | ---: | ---: | ---: |"]
    for row in r["large_body"]:
        slowest = "–" if row["info_max_s"] is None else f"{row['info_max_s']:.3f}"
        out.append(f"| {row['body']} | {row['status']} | {row['answered_s']:.2f} | {row['info_requests']} | "
                   f"{slowest} |")
    load = r["load"]
    b, a = load["before"], load["after"]
    p50 = "–" if load["p50_s"] is None else f"{load['p50_s']:.2f} / {load['p95_s']:.2f}"
    out += ["", "| users × Completes (seeds) | succeeded | p50 / p95 s | calls/s | server / client CPU ms per call "
                "| cache files (MiB) before → after | RSS MiB before → after (peak) |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |",
            f"| {load['users']} × {load['completes_each']} ({load['seeds']}) | {load['succeeded']}/{load['calls']} | "
            f"{p50} | {load['calls_per_s']:.2f} | {load['server_cpu_s_per_call'] * 1e3:.0f} / "
            f"{load['client_cpu_s_per_call'] * 1e3:.0f} | {b['cache']['files']} ({b['cache']['mib']:.1f}) → "
            f"{a['cache']['files']} ({a['cache']['mib']:.1f}) | {b['memory']['rss']:.0f} → {a['memory']['rss']:.0f} "
            f"({a['memory']['peak']:.0f}) |"]
    fl = r["race_flood"]
    fp = "–" if fl["p50_s"] is None else f"{fl['p50_s']:.2f} / {fl['p95_s']:.2f}"
    out += ["", "| race flood: joins at once, then every 0.5 s | joins accepted / refused | another user's "
                "Completes succeeded | their p50 / p95 s |", "| ---: | --- | ---: | ---: |",
            f"| {fl['flood_joins']} | {fl['joins']['accepted']} / {fl['joins']['refused']} | "
            f"{fl['succeeded']}/{fl['completes']} | {fp} |"]
    m, ab, so, rs = r["memory"], r["abandoned"], r["soak"], r["restart"]
    c = ab["completes"]
    race_free = "–" if ab["race_free_after_leaving_s"] is None else f"{ab['race_free_after_leaving_s']:.2f}"
    after = so["after_cycle"]
    out += ["", "| memory: fresh API sessions per round | RSS MiB start → round 1 → round 2 | KiB kept per session "
                "(round 2; round 1) | failures |", "| ---: | --- | ---: | --- |",
            f"| {m['sessions_per_round']} | {' → '.join(f'{x:.0f}' for x in m['rss_mib'])} | "
            f"{m['kib_per_session']:.1f} ({m['kib_per_session_round1']:.1f}) | {len(m['failures'])} |",
            "", "| abandoned work | result |", "| --- | --- |",
            f"| {c['joined']} Completes joined, never listened for | {c['accepted']} accepted, {c['refused']} refused; "
            f"server CPU meanwhile {c['server_cpu_s']:.2f} s, one Complete's {c['one_complete_cpu_s']:.2f} s: about "
            f"{c['server_cpu_s'] / max(c['one_complete_cpu_s'], 1e-9):.1f} ran |",
            f"| a 300-iteration race left after its first frame | another visitor's race started {race_free} s "
            f"after the first visitor left |",
            "", f"| cache soak ({so['minutes']:g} min, {so['users']} users, {so['calls']} Completes, clean-up every "
                f"{UPKEEP['cache_every_s']:g} s, age bound {so['age_bound_s']:g} s) | files | MiB | folders | empty "
                "folders | oldest file s |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in so["during"]:
        out.append(f"| at {row['t_s']} s | {row['files']} | {row['mib']:.1f} | {row['folders']} | "
                   f"{row['empty_folders']} | {row['oldest_s']:.0f} |")
    out += [f"| {so['waited_s']:g} s after the soak | {after['files']} | {after['mib']:.1f} | {after['folders']} | "
            f"{after['empty_folders']} | {after['oldest_s']:.0f} |",
            "", "| restart after SIGKILL | result |", "| --- | --- |",
            f"| the killed run left {rs['before']['files']} files, {rs['before']['folders']} folders | "
            f"{rs['remaining_after_start']} of its {rs['killed_run_files']} files left once the new "
            f"server started (the new page's own {rs['new_page_files']} written anew beside them; besides those: "
            f"{rs['after']['files']} files, {rs['after']['folders']} folders) |"]
    k, f = r["kills"], r["disk_full"]
    out += ["", "| trainer fault | result |", "| --- | --- |",
            f"| SIGKILL × {k['kills']} at random moments, resumed each time | steps lost per kill {k['steps_lost']} "
            f"(checkpoint every {k['checkpoint_every']}); finished {k['finished']}; equal to the uninterrupted run "
            f"bit for bit: {k['bit_exact']}; metrics log monotonic: {k['log_monotonic']} |",
            f"| disk full (files limited to {f['limit_bytes']:,} B) during a checkpoint | exit {f['exit_status']}, "
            f"`{f['message']}`; traceback: {f['traceback']}; previous checkpoint intact: {f['previous_intact']}, "
            f"loads: {f['previous_loads']}; temporaries left: {f['temporaries_left'] or 'none'} |",
            "", f"server still serving at the end: {r['server_alive']}"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from webapp import settings

    p = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer users, kills and steps: checks the machinery")
    p.add_argument("--checkpoint", default=str(settings.DEFAULT_CHECKPOINT), help="checkpoint the app serves")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--soak", type=float, metavar="MINUTES",
                   help=f"minutes of the cache soak (default {FULL.soak_minutes:g}; --quick {QUICK.soak_minutes:g})")
    args = p.parse_args(argv)
    if not Path(args.checkpoint).is_file():
        p.error(f"--checkpoint {args.checkpoint}: no such file")
    if args.soak is not None and not 0 < args.soak <= 24 * 60:
        p.error(f"--soak must be a number of minutes in (0, 1440], got {args.soak:g}")
    plan = QUICK if args.quick else FULL
    if args.soak is not None:
        plan = dataclasses.replace(plan, soak_minutes=args.soak)
    results = run(plan, args.checkpoint, args.seed)
    print(render(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
