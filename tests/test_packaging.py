"""The wheel and the sdist, built here (no network: the build backend is installed by the test
extra), hold what a user installs: the package, its model, py.typed, and no caches."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_and_the_sdist_hold_what_they_should(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("vtex_order_flow-*.whl")
    (sdist,) = tmp_path.glob("vtex_order_flow-*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "vtex_order_flow/__init__.py",
        "vtex_order_flow/py.typed",
        "vtex_order_flow/data/vtex.toml",
        "vtex_order_flow/client/__init__.py",
        "vtex_order_flow/app/__init__.py",
        "vtex_order_flow/testing/_fake.py",
        "vtex_order_flow/tracking/stores/sql/sqlite/queries.sql",
        "vtex_order_flow/tracking/stores/sql/postgres/queries.sql",
    ):
        assert needed in names, needed
    # Every .sql file the stores load (queries and migrations) ships in the wheel.
    package = ROOT / "statemachine"
    stores = package / "vtex_order_flow" / "tracking" / "stores"
    sql_files = {p.relative_to(package).as_posix() for p in stores.rglob("*.sql")}
    assert len(sql_files) >= 8
    assert sql_files <= names, sorted(sql_files - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    for extra in ("client", "server", "postgres", "testing"):
        assert f"Provides-Extra: {extra}" in text
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    for needed in (
        "pyproject.toml",
        "README.md",
        "statemachine/vtex_order_flow/data/vtex.toml",
        "tests/conftest.py",
        "examples/connector/connector.py",
        "diagrams/seller.mmd",
    ):
        assert needed in members, needed
    assert not [m for m in members if "__pycache__" in m or ".venv" in m or m.endswith(".pyc")]
