"""The Hugging Face Space's file set: what `python -m webapp.deploy` stages and uploads.

A Space gets files, not the repository's history: app.py, the modules of `webapp` and `biglearn` that app.py
imports (found by reading their import statements, so a new module is picked up and a training or benchmark
module never is), the page's scripts and styles, the assets the app reads while it runs, a README whose front
matter configures the Space, and requirements fit for its hardware. Nothing from docs/, tests/, train/ or bench/.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from biglearn.cli import writable_folder

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("biglearn", "webapp")  # the repository's own packages a Space may need
PAGE_FILES = ("webapp/*.js", "webapp/*.css")  # read by webapp at run time
ASSET_FILES = ("assets/examples/*.npz", "assets/sims/*.png", "assets/sims/*.gif", "assets/sims/*.md")
BUNDLED = "assets/mnist-cpu.safetensors"
BUNDLED_CARD = "assets/README.md"  # the bundled checkpoint's model card (the Model info tab shows it)
CHECKPOINT_NOTE = "assets/checkpoint.txt"  # which checkpoint the Space serves when it is not the bundled one
HARDWARE = ("cpu-basic", "zero-gpu")
SUGGESTED = {"cpu-basic": "cpu-basic", "zero-gpu": "zero-a10g"}  # the Hub's hardware flavour names
MAX_FILE = 10 * 2**20  # the Hub refuses a file over 10 MiB outside LFS/Xet; this Space needs none that large
MAX_TOTAL = 50 * 2**20
# the Space's own runtime packages (requirements.txt less the trainer's torchvision and the app's gradio, which
# the Space installs itself from `sdk_version`: listing it again can install a second, different version)
RUNTIME = ("numpy", "pillow", "safetensors", "matplotlib", "huggingface_hub")
TORCH = {"cpu-basic": "torch==2.14.1",  # what the project is tested with
         # the newest release on the ZeroGPU docs' list of supported versions (Hub docs, "Supported Versions"); the
         # project's tests run on 2.14.1, this pin was not exercised here
         "zero-gpu": "torch==2.8.0"}
ZERO_GPU_PYTHON = "3.10.13"  # the Python ZeroGPU runs (Hub docs)
SHORT_DESCRIPTION = "One model for every joint, conditional, marginal of patches"  # the Hub allows 60


class SpaceError(ValueError):
    """A Space cannot be staged or uploaded as asked (said in one line)."""


@dataclass(frozen=True)
class StagedFile:
    """One file of the staged Space: its path in the Space, size, and whether the Hub keeps it in LFS/Xet."""

    path: str
    size: int
    binary: bool


def module_closure(entry: Path, root: Path = ROOT) -> list[Path]:
    """Every module of PACKAGES that `entry` imports, directly or through each other (package __init__ files
    included), as paths under `root`, sorted."""
    found: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        for module in imported_modules(path, root):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # a package's __init__ runs before any of its modules
                base = root.joinpath(*parts[:i])
                for candidate in (base / "__init__.py", base.with_suffix(".py")):
                    if candidate.is_file() and candidate not in found:
                        todo.append(candidate)
    return sorted(p for p in found if p != entry)


def imported_modules(path: Path, root: Path) -> set[str]:
    """The dotted names of PACKAGES' modules that the file at `path` imports (absolute and relative imports,
    including `from package import module`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(root).with_suffix("").parts[:-1]  # the package a relative import starts from
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ((base,) if base else ()))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # maybe modules, maybe attributes
    return {n for n in names if n.split(".")[0] in PACKAGES}


def is_binary(path: Path) -> bool:
    """Whether the Hub treats the file as binary (kept in LFS/Xet): a NUL byte, or not UTF-8 text."""
    head = path.read_bytes()[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte character cut by the 8 KiB window is still text
    return False


def is_hub_id(checkpoint: str) -> bool:
    """A checkpoint given as `owner/repo` (or `owner/repo/file.safetensors`) that is not a local file."""
    return not Path(checkpoint).exists() and bool(re.match(r"^[^/\s]+/[^/\s]+(/[^/\s]+\.safetensors)?$", checkpoint))


def front_matter(readme: str, hardware: str, checkpoint: str | None) -> dict[str, str | list[str]]:
    """The Space's configuration: the repository README's front matter (sdk, sdk_version, app_file, title, ...)
    with python_version, short_description, suggested_hardware and, for a Hub checkpoint, `models`."""
    match = re.match(r"^---\n(.*?)\n---\n", readme, re.S)
    if not match:
        raise SpaceError("README.md has no front matter (--- ... ---) to take the Space's settings from")
    meta: dict[str, str | list[str]] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip()] = value.strip()
    for key in ("sdk", "sdk_version", "app_file"):
        if key not in meta:
            raise SpaceError(f"README.md's front matter has no {key!r}")
    meta["python_version"] = ZERO_GPU_PYTHON if hardware == "zero-gpu" else meta.get("python_version", "3.11")
    meta["short_description"] = SHORT_DESCRIPTION
    meta["suggested_hardware"] = SUGGESTED[hardware]
    if checkpoint and is_hub_id(checkpoint):
        meta["models"] = ["/".join(checkpoint.split("/")[:2])]
    return meta


def render_front_matter(meta: dict[str, str | list[str]]) -> str:
    """YAML front matter text (flat keys, lists as block sequences)."""
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list):
            lines += [f"{key}:"] + [f"  - {v}" for v in value]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines + ["---", ""])


def requirements(hardware: str) -> str:
    """requirements.txt for the Space's hardware (gradio comes from the Space's sdk_version)."""
    if hardware not in HARDWARE:
        raise SpaceError(f"unknown hardware {hardware!r}; choose one of {', '.join(HARDWARE)}")
    head = f"# {hardware}: installed by the Space; gradio comes from the README's sdk_version\n"
    return head + "\n".join((TORCH[hardware], *RUNTIME)) + "\n"


def space_readme(meta: dict[str, str | list[str]], hardware: str, checkpoint: str) -> str:
    """The Space's README.md: its front matter and a short page about what it serves."""
    return render_front_matter(meta) + f"""
# biglearn: the BigLearn-GAN in the browser

One universal generator p(x_T | x_S) over image patches: paint the patches to keep and the model samples the
rest; it also generates from nothing or from a class, and classifies what it is shown (Cong & Zhao, *Big
Learning*). Checkpoint: `{checkpoint}`. Hardware: {hardware}{' (ZeroGPU: each model call borrows a GPU)'
                                                             if hardware == 'zero-gpu' else ''}.

Staged by `python -m webapp.deploy` from the biglearn repository: the app and the library's inference code only.
"""


def stage(dest: Path, *, hardware: str = "cpu-basic", checkpoint: str = BUNDLED, root: Path = ROOT) -> list[StagedFile]:
    """Write the Space's files into the empty or new folder `dest` and check them; returns the file list.

    `checkpoint`: the bundled file, another local .safetensors (copied into assets/, checked to load) or a Hub
    id (recorded in assets/checkpoint.txt; the Space downloads it at start-up)."""
    if hardware not in HARDWARE:
        raise SpaceError(f"unknown hardware {hardware!r}; choose one of {', '.join(HARDWARE)}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SpaceError(f"stage folder {dest} is not empty: give a new or empty folder")
    try:
        writable_folder(dest)
    except OSError as exc:
        raise SpaceError(f"cannot write into stage folder {dest}: {exc.strerror or exc}") from None
    sources = [root / "app.py", *module_closure(root / "app.py", root)]
    sources += [p for pattern in PAGE_FILES + ASSET_FILES for p in sorted(root.glob(pattern))]
    served = stage_checkpoint(dest, checkpoint, root)
    if served == BUNDLED:
        sources += [root / BUNDLED, root / BUNDLED_CARD]
    for src in sources:
        target = dest / src.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (dest / "README.md").write_text(space_readme(front_matter(readme, hardware, checkpoint), hardware, served),
                                    encoding="utf-8")
    (dest / "requirements.txt").write_text(requirements(hardware), encoding="utf-8")
    return check_stage(dest)


def stage_checkpoint(dest: Path, checkpoint: str, root: Path) -> str:
    """Put the served checkpoint in place; returns what the Space serves (a path in the Space or a Hub id)."""
    import biglearn  # the library loads the file: a checkpoint that does not load is refused before any upload

    local = Path(checkpoint) if Path(checkpoint).is_absolute() else root / checkpoint
    if not local.exists() and is_hub_id(checkpoint):
        (dest / CHECKPOINT_NOTE).parent.mkdir(parents=True, exist_ok=True)
        (dest / CHECKPOINT_NOTE).write_text(checkpoint + "\n", encoding="utf-8")
        return checkpoint
    try:
        biglearn.load(local, device="cpu")
    except (ValueError, OSError) as exc:
        raise SpaceError(f"--checkpoint {checkpoint}: {exc}") from None
    if local.resolve() == (root / BUNDLED).resolve():
        return BUNDLED
    served = f"assets/{local.name}"
    (dest / "assets").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(local, dest / served)
    (dest / CHECKPOINT_NOTE).write_text(served + "\n", encoding="utf-8")
    return served


def check_stage(dest: Path) -> list[StagedFile]:
    """Every staged file with its size and kind; SpaceError when a file is over MAX_FILE or all over MAX_TOTAL."""
    files = [StagedFile(p.relative_to(dest).as_posix(), p.stat().st_size, is_binary(p))
             for p in sorted(dest.rglob("*")) if p.is_file()]
    big = [f"{f.path} ({f.size / 2**20:.1f} MiB)" for f in files if f.size > MAX_FILE]
    if big:
        raise SpaceError(f"files over {MAX_FILE // 2**20} MiB cannot go to the Space: {', '.join(big)}")
    total = sum(f.size for f in files)
    if total > MAX_TOTAL:
        raise SpaceError(f"the Space would hold {total / 2**20:.1f} MiB, over the {MAX_TOTAL // 2**20} MiB bound")
    return files


def listing(files: list[StagedFile]) -> str:
    """The staged files as a table: size, LFS/Xet or text, path; and the total."""
    rows = [f"{f.size / 1024:10.1f} KiB  {'LFS/Xet' if f.binary else 'text':7}  {f.path}" for f in files]
    total = sum(f.size for f in files) / 2**20
    lfs = sum(f.binary for f in files)
    return "\n".join(rows + [f"{len(files)} files, {total:.1f} MiB; {lfs} binary (kept in LFS/Xet by the Hub)"])
