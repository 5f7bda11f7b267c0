"""The README's library snippet runs as written (from the repository root, on the bundled checkpoint), and its
training commands are valid runs on what a fresh clone has."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_library_snippet_runs_as_written(monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = text.split("## The library in five lines", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - our own documentation
    assert tuple(scope["samples"].shape) == (4, 3, 1, 28, 28)
    assert tuple(scope["digits"].shape) == (16, 1, 28, 28) and tuple(scope["probs"].shape) == (4, 10)
    assert os.getcwd() == str(ROOT)


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's shell commands that start with `prefix`, continuation lines joined, split like a shell."""
    import shlex

    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```bash\n")[1:]]
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line)[len(prefix.split()):] for line in lines if line.startswith(prefix + " ")]


def test_every_training_command_in_the_readme_is_a_valid_run_on_a_fresh_clone():
    from train import cli

    commands = readme_commands("python -m train")
    assert len(commands) >= 3
    made: list[Path] = []  # run directories written by the commands before
    for argv in commands:
        args = cli.build_parser().parse_args(argv)
        cli.build_configs(args, num_classes=10)  # the options' values and combinations are checked here
        assert (ROOT / args.data).exists(), f"README trains on {args.data}, which a fresh clone does not have"
        assert not args.resume or args.out in made, f"README resumes {args.out} before a command writes it"
        if args.init_from is not None:
            assert (ROOT / args.init_from).exists() or args.init_from.parent in made, args.init_from
        made.append(args.out)
