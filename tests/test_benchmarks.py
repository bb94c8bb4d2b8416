"""The benchmarks are code: each runs in its quick ``--smoke`` mode and succeeds, and CI
type-checks them (``benchmarks/overhead.py`` once crashed with ``ImportError: DEFAULT_PROFILE``
after a refactor, and nothing noticed). Marked ``slow``: real processes, a few seconds each;
CI runs every marker."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers import SUBPROCESS_TIMEOUT, run

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py"))


def test_every_benchmark_is_covered() -> None:
    assert BENCHMARKS == ["adaptive", "live_view", "overhead", "soak", "startup"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_in_smoke_mode(name: str) -> None:
    script = ROOT / "benchmarks" / f"{name}.py"
    proc = run([sys.executable, str(script), "--smoke"], cwd=ROOT, timeout=2 * SUBPROCESS_TIMEOUT)

    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr


def test_mypy_and_ci_check_the_benchmarks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    assert {"hive", "benchmarks"} <= set(config["files"])
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "== benchmarks (smoke)" in ci
    assert ci.index("\npytest") < ci.index("== benchmarks (smoke)")
    for name in BENCHMARKS:
        assert name in ci.split("== benchmarks (smoke)")[1]
