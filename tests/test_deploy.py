"""Hosting without the network: the staged Space (webapp.deploy), ZeroGPU wrapping, Hub uploads through a recording
fake (the Hub is unreachable from these machines) and `train.publish`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from huggingface_hub.errors import HfHubHTTPError

import biglearn
from biglearn import hub
from tests.helpers import save_tiny
from train import publish
from webapp import deploy, layout, settings, zerogpu
from webapp.headless import free_port
from webapp.space_files import MAX_FILE, front_matter, stage

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "mnist-cpu.safetensors"


def front(path: Path) -> dict[str, str]:
    """The flat keys of a README's front matter."""
    block = re.match(r"^---\n(.*?)\n---\n", path.read_text(), re.S).group(1)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines()) if v.strip()}


class RecordingHub:
    """A fake HfApi: records create_repo / upload_folder calls (and the uploaded files), or fails as told."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail = fail
        self.uploaded: list[str] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        if self.fail is not None:
            raise self.fail
        return "https://huggingface.co/x"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        folder = Path(kwargs["folder_path"])
        self.uploaded = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        return types.SimpleNamespace(commit_url="https://huggingface.co/spaces/you/x/commit/abc")


@pytest.fixture
def fake_hub(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    fake = RecordingHub()
    monkeypatch.setattr(hub, "hub_api", lambda: fake)
    return fake


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("space") / "stage"
    assert deploy.main(["you/biglearn", "--dry-run", "--stage", str(folder)]) == 0
    return folder


def test_the_staged_space_holds_what_the_app_needs_and_nothing_else(staged):
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert {"app.py", "README.md", "requirements.txt", "biglearn/inference.py", "biglearn/sims/live.py",
            "webapp/layout.py", "webapp/zerogpu.py", "webapp/painter.js", "webapp/app.css", "assets/README.md",
            "assets/mnist-cpu.safetensors", "assets/examples/mnist_examples.npz", "assets/sims/race.gif"} <= files
    assert not [f for f in files if f.split("/")[0] in ("docs", "tests", "train", "bench", "shared")]
    # tooling and library parts the app never imports stay home
    assert not files & {"webapp/deploy.py", "webapp/space_files.py", "webapp/headless.py", "biglearn/cli.py",
                        "biglearn/sims/gan2d.py", "assets/eval_classifier.safetensors"}
    assert "biglearn/hub.py" in files  # checkpoint loading asks it whether the Hub answers
    assert all((staged / f).stat().st_size <= MAX_FILE for f in files)


def test_the_space_readme_and_requirements_fit_the_hardware(staged, tmp_path):
    meta, repo = front(staged / "README.md"), front(ROOT / "README.md")
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == repo["sdk_version"] and meta["app_file"] == "app.py"
    assert meta["suggested_hardware"] == "cpu-basic" and len(meta["short_description"]) <= 60
    reqs = [r for r in (staged / "requirements.txt").read_text().splitlines() if not r.startswith("#")]
    assert "torch==2.14.1" in reqs and not [r for r in reqs if r.startswith("gradio")]  # the Space brings gradio
    zero = tmp_path / "zero"
    stage(zero, hardware="zero-gpu", checkpoint="you/model")
    meta = front(zero / "README.md")
    assert meta["suggested_hardware"] == "zero-a10g" and meta["python_version"] == "3.10.13"
    assert "models:\n  - you/model" in (zero / "README.md").read_text()
    assert "torch==2.8.0" in (zero / "requirements.txt").read_text().splitlines()
    assert (zero / "assets" / "checkpoint.txt").read_text().strip() == "you/model"
    assert not (zero / "assets" / "mnist-cpu.safetensors").exists()  # the Space downloads its Hub checkpoint
    with pytest.raises(ValueError, match="front matter"):
        front_matter("# no front matter\n", "cpu-basic", None)


def test_another_local_checkpoint_is_copied_and_served(tmp_path, monkeypatch):
    ckpt = save_tiny(tmp_path / "mine.safetensors")
    folder = tmp_path / "stage"
    stage(folder, checkpoint=str(ckpt))
    assets = folder / "assets"
    assert (assets / "mine.safetensors").is_file() and not (assets / "mnist-cpu.safetensors").exists()
    monkeypatch.delenv("BIGLEARN_CHECKPOINT", raising=False)
    monkeypatch.setattr(settings, "ROOT", folder)
    monkeypatch.setattr(settings, "CHECKPOINT_NOTE", folder / "assets" / "checkpoint.txt")
    assert settings.default_checkpoint() == str(folder / "assets" / "mine.safetensors")


def wait_for(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the staged app exited: {proc.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the staged app did not start")


def test_the_staged_folder_serves_on_its_own(staged, tmp_path):
    """Copied away from the repository (no tests/, no ../shared, no PYTHONPATH), `python app.py` completes."""
    from gradio_client import Client

    alone = tmp_path / "alone"
    subprocess.run(["cp", "-r", str(staged), str(alone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BIGLEARN_CHECKPOINT")}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=alone, env={**env,
                            "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(port, proc, 90)
        raw = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            {"grid": [7, 7], "mask": [1] * 21 + [0] * 28}, 2, 0, api_name="/complete_raw")
        assert raw["shape"] == [2, 1, 28, 28] and raw["seeds"] == [0, 1]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_deploy_uploads_the_staged_folder_in_one_commit(fake_hub, tmp_path, capsys):
    assert deploy.main(["you/biglearn", "--stage", str(tmp_path / "s"), "--private"]) == 0
    (name, args, create), (name2, _, up) = fake_hub.calls
    assert name == "create_repo" and args == ("you/biglearn",) and name2 == "upload_folder"
    assert create["repo_type"] == "space" and create["space_sdk"] == "gradio" and create["exist_ok"] is True
    assert create["private"] is True and create["token"] == "hf_test"
    assert up["repo_type"] == "space" and up["delete_patterns"] == "*" and "webapp.deploy" in up["commit_message"]
    assert "app.py" in fake_hub.uploaded and "assets/mnist-cpu.safetensors" in fake_hub.uploaded
    assert "in one commit" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["a..b/c", "a b/c", "a/b/c", "abc", "/abc", "a/"])
def test_a_malformed_space_id_is_refused(bad, fake_hub, tmp_path, capsys):
    assert deploy.main([bad, "--stage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: SPACE_ID") and fake_hub.calls == []
    assert not (tmp_path / "s").exists()


def test_bad_stage_folders_and_checkpoints_are_refused(fake_hub, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert deploy.main(["you/x", "--stage", str(full)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert deploy.main(["you/x", "--stage", str(full / "x" / "inside")]) == 2  # under a file: cannot be made
    assert "cannot write into stage folder" in capsys.readouterr().err
    broken = tmp_path / "broken.safetensors"
    broken.write_text("not a checkpoint")
    assert deploy.main(["you/x", "--stage", str(tmp_path / "s2"), "--checkpoint", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --checkpoint") and fake_hub.calls == []


def test_without_a_token_nothing_is_uploaded(monkeypatch, tmp_path, capsys):
    fake = RecordingHub()
    monkeypatch.setattr(hub, "hub_api", lambda: fake)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    assert deploy.main(["you/x", "--stage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hf auth login" in err[0] and fake.calls == []


def test_a_hub_refusal_is_one_line_and_nothing_is_committed(monkeypatch, tmp_path, capsys):
    import httpx2

    response = httpx2.Response(429, request=httpx2.Request("POST", "https://huggingface.co/api/repos/create"))
    fake = RecordingHub(fail=HfHubHTTPError("429 Too Many Requests", response=response))
    monkeypatch.setattr(hub, "hub_api", lambda: fake)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert deploy.main(["you/x", "--stage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rate-limiting" in err[0] and "nothing was committed" in err[0]
    assert [c[0] for c in fake.calls] == ["create_repo"]  # no upload was attempted
    fake.fail = ConnectionError("network is unreachable")
    assert deploy.main(["you/x", "--stage", str(tmp_path / "s3")]) == 2
    assert "could not reach the Hub" in capsys.readouterr().err


def test_on_zero_gpu_every_model_handler_borrows_a_gpu_for_its_duration(monkeypatch):
    recorded: list[int] = []
    fake_spaces = types.ModuleType("spaces")

    def gpu(duration):
        recorded.append(duration)
        return lambda fn: fn
    fake_spaces.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    layout.build_demo(lambda: None)
    # complete (button and reseed), sweep, generate, classify, complete_raw, generate_raw, ood_complete, 4 presets
    assert sorted(set(recorded)) == sorted(set(zerogpu.DURATIONS.values())) and len(recorded) >= 9
    assert max(recorded) <= 30
    recorded.clear()
    monkeypatch.setenv("SPACES_ZERO_GPU", "")
    layout.build_demo(lambda: None)
    assert recorded == []  # elsewhere nothing is wrapped


def test_on_zero_gpu_the_app_loads_its_model_onto_cuda_at_start(monkeypatch):
    import app

    asked = []

    def load(path, device=None, **kwargs):
        asked.append(device)
        raise ValueError("stop here")
    monkeypatch.setattr(biglearn, "load", load)
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")
    with pytest.raises(SystemExit):
        app.main([])
    monkeypatch.setenv("SPACES_ZERO_GPU", "0")
    with pytest.raises(SystemExit):
        app.main([])
    assert asked == ["cuda", None]


def test_publish_dry_run_writes_the_card_and_lists_the_files(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_tiny(run / "model.safetensors", info={"preset": "tiny", "data": "/somewhere/mnist_train.npz", "steps": 12,
                                               "train_seconds": 60.0})
    (run / "resume.safetensors").write_text("optimiser state")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"split": "test", "data": "x/mnist_test.npz", "joint": {"fd": 12.5}, '
                       '"complete": {"random": {"acc@0.5": 0.9}}}')
    out = tmp_path / "card"
    assert publish.main([str(run), "you/tiny", "--dry-run", "--metrics", str(metrics), "--stage", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.safetensors"]  # never the resume file
    card = (out / "README.md").read_text()
    assert "library_name: biglearn" in card and "  - ylecun/mnist" in card and "license: mit" in card
    assert 'biglearn.load("you/tiny")' in card and "python app.py --checkpoint you/tiny" in card
    assert "| joint FD (generation from nothing) | 12.5 |" in card and "0.9" in card and "12 steps" in card
    assert "/somewhere" not in card  # no paths of the machine that trained it
    assert "model.safetensors" in capsys.readouterr().out
    assert biglearn.load(out / "model.safetensors").config.num_patches > 0


def test_publish_refuses_what_it_cannot_share_and_uploads_once(fake_hub, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_tiny(run / "model.safetensors")
    assert publish.main([str(run), "you/tiny/extra", "--dry-run"]) == 2
    assert publish.main([str(tmp_path / "nothing"), "you/tiny", "--dry-run"]) == 2
    assert publish.main([str(run), "you/tiny", "--with-resume", "--dry-run"]) == 2  # no resume file there
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("error:") for e in errors)
    assert fake_hub.calls == []
    assert publish.main([str(run), "you/tiny"]) == 0
    (_, args, create), (_, _, up) = fake_hub.calls
    assert args == ("you/tiny",) and create["repo_type"] == "model" and up["repo_type"] == "model"
    assert fake_hub.uploaded == ["README.md", "model.safetensors"]


def test_no_tracked_file_is_over_10_mb():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    large = {f for f in listed.stdout.split("\0") if f and (ROOT / f).is_file()
             and (ROOT / f).stat().st_size > 10 * 10**6}
    assert not large, f"tracked files over 10 MB (a Space refuses them; see write_shards): {sorted(large)}"
    attributes = (ROOT / ".gitattributes").read_text()
    for pattern in ("*.safetensors", "*.npz", "*.png", "*.gif"):
        assert re.search(rf"^{re.escape(pattern)} filter=lfs diff=lfs merge=lfs -text$", attributes, re.M)
