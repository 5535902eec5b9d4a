"""The lock (requirements/test.txt) agrees with pyproject.toml, and the test command uses it."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "test.txt"
REFRESH = (
    "uv pip compile pyproject.toml --extra test --extra bench --generate-hashes --python-version 3.11 "
    "--universal -o requirements/test.txt"
)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)\s*(;[^\\]*)?\\?$")


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(3))
    return pins


def _requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [("dependencies", Requirement(text)) for text in project["dependencies"]]
    for extra, texts in project["optional-dependencies"].items():
        wanted += [(f"[{extra}]", Requirement(text)) for text in texts]
    return wanted


def test_every_requirement_is_pinned_within_its_range() -> None:
    pins = _pins()
    assert pins, "no pins read from requirements/test.txt"
    problems = []
    for where, requirement in _requirements():
        if requirement.marker is not None and not requirement.marker.evaluate({"python_version": "3.11"}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} ({where}) is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement} ({where}) is pinned at {pins[name]}, outside its range")
    assert not problems, "refresh the lock (requirements/README.md):\n" + "\n".join(problems)


def test_every_pin_has_hashes() -> None:
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [block.split()[0] for block in blocks if "==" in block and "--hash=sha256:" not in block]
    assert not unhashed


def test_the_lock_was_made_by_the_documented_command() -> None:
    header = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    assert any(line.strip("# ").strip() == REFRESH for line in header), header
    assert REFRESH in (ROOT / "requirements" / "README.md").read_text(encoding="utf-8")


def _test_command(text: str) -> str:
    commands = [
        line for line in text.splitlines() if line.startswith("python3 -m venv .venv") and "pytest" in line
    ]
    assert len(commands) == 1, commands
    return commands[0]


@pytest.mark.parametrize("where", ["README.md", ".ci/run"])
def test_the_test_command_installs_from_the_lock(where: str) -> None:
    command = _test_command((ROOT / where).read_text(encoding="utf-8"))
    words = shlex.split(command)
    assert "--require-hashes" in words
    assert "requirements/test.txt" in words
    assert "--no-build-isolation" in words
    assert "-e" in words
    assert "--no-deps" in words


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    readme = _test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert _test_command((ROOT / ".ci" / "run").read_text(encoding="utf-8")) == readme
