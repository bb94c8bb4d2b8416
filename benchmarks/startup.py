"""How long hive takes to start, and what it imports on the way.

Times ``python -m hive --version``, ``python -m hive --help`` and ``hive consensus --help``
(through ``python -m hive``) against a bare ``python -c pass``, side by side in one run, so
hive's own cost is visible, and prints ``--version``'s time as a ratio of the bare
interpreter's (the promise: at most 3x, as ``--version`` loads neither Typer nor Click). Then
reads one ``python -X importtime -m hive --help`` to show where the import time goes and to
check that httpx, pydantic and Rich's live view stay out of the start-up path, and one of
``--version`` to check that Typer and Click do.

    python benchmarks/startup.py [--runs N] [--smoke]

Exits 1 if a command fails, if ``--help`` or ``--version`` imported a module it must not, or
(except with ``--smoke``, whose few runs are too noisy to judge) if ``--version`` took more
than ``--max-version-ratio`` times the bare interpreter.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

# Modules that must only load inside the command that needs them (see hive/cli/app.py).
MUST_STAY_LAZY = ("httpx", "pydantic", "rich.live")
# ... and what `hive --version` must not load at all (see hive/cli/entry.py).
VERSION_MUST_NOT_LOAD = ("typer", "click", "rich", "hive.cli.app", *MUST_STAY_LAZY)
MAX_VERSION_RATIO = 3.0
SMOKE_RUNS = 2
BASELINE = "python -c pass (baseline)"
VERSION = "python -m hive --version"


@dataclass(frozen=True)
class Case:
    label: str
    argv: list[str]


@dataclass(frozen=True)
class ImportLine:
    name: str
    depth: int  # 0 for an import made directly by the program, 1 for one made by that, ...
    self_us: int
    cumulative_us: int


def cases() -> list[Case]:
    python = sys.executable
    return [
        Case(BASELINE, [python, "-c", "pass"]),
        Case(VERSION, [python, "-m", "hive", "--version"]),
        Case("python -m hive --help", [python, "-m", "hive", "--help"]),
        Case("hive consensus --help", [python, "-m", "hive", "consensus", "--help"]),
    ]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run in seconds; raises if the command fails."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr}")
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), for any sample size."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def parse_importtime(stderr: str) -> list[ImportLine]:
    """Parse ``-X importtime`` lines: ``import time: self [us] | cumulative | name``."""
    lines = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:"):
            continue
        parts = raw[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        field = parts[2].rstrip()
        indent = len(field) - len(field.lstrip()) - 1  # one space always follows the "|"
        lines.append(ImportLine(field.strip(), indent // 2, int(parts[0]), int(parts[1].strip())))
    return lines


def importer(lines: list[ImportLine], module: str) -> str | None:
    """The top-level import that brought ``module`` (or a submodule) in, if it was imported.

    ``-X importtime`` prints a module after everything it imported, so the top-level import
    responsible is the first depth-0 line at or after the module's own line.
    """
    for i, line in enumerate(lines):
        if line.name == module or line.name.startswith(module + "."):
            return next(x.name for x in lines[i:] if x.depth == 0)
    return None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def time_commands(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    all_cases = cases()
    for case in all_cases:  # warm-up: byte-compiles, fills the OS page cache; not counted
        run_once(case.argv, env)
    samples: dict[str, list[float]] = {case.label: [] for case in all_cases}
    for _ in range(runs):  # round-robin, so drift in machine load hits every command alike
        for case in all_cases:
            samples[case.label].append(run_once(case.argv, env))
    return samples


def report_times(samples: dict[str, list[float]], runs: int) -> float:
    """Print the table; return ``--version``'s median as a multiple of the bare interpreter's."""
    print(f"Wall time per command ({runs} runs each, after one warm-up run; lower is better)")
    width = max(len(label) for label in samples)
    baseline = statistics.median(samples[BASELINE])
    for label, values in samples.items():
        median = statistics.median(values)
        extra = "" if label == BASELINE else f"   hive's own cost: {ms(median - baseline)}"
        print(
            f"  {label:<{width}}   median {ms(median)}   p90 {ms(percentile(values, 0.9))}{extra}"
        )
    ratio = statistics.median(samples[VERSION]) / baseline
    print(
        f"  --version / bare interpreter: {ratio:.2f}x (promised: at most {MAX_VERSION_RATIO:g}x)"
    )
    return ratio


def importtime(args: list[str], env: dict[str, str]) -> list[ImportLine]:
    argv = [sys.executable, "-X", "importtime", "-m", "hive", *args]
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return parse_importtime(proc.stderr.decode(errors="replace"))


def report_lazy(lines: list[ImportLine]) -> bool:
    ok = True
    for module in MUST_STAY_LAZY:
        via = importer(lines, module)
        if via is None:
            print(f"    {module}: not imported (ok)")
        else:
            ok = False
            print(f"    {module}: IMPORTED (through {via})")
    return ok


def report_version_imports(env: dict[str, str]) -> bool:
    """Print whether ``--version`` stayed clear of Typer, Click and the rest; False if not."""
    lines = importtime(["--version"], env)
    print()
    print("Imports during one `python -X importtime -m hive --version`")
    print(f"  all imports: {len(lines)} modules")
    ok = True
    for module in VERSION_MUST_NOT_LOAD:
        via = importer(lines, module)
        if via is not None:
            ok = False
            print(f"    {module}: IMPORTED (through {via})")
    if ok:
        print(f"  none of {', '.join(VERSION_MUST_NOT_LOAD)} (ok)")
    return ok


def report_imports(env: dict[str, str]) -> bool:
    """Print the import breakdown of ``--help``; return False if a lazy module was imported."""
    lines = importtime(["--help"], env)
    top = [line for line in lines if line.depth == 0]
    first_hive = next(
        (i for i, line in enumerate(top) if line.name.split(".")[0] == "hive"), len(top)
    )
    startup = top[:first_hive]  # the interpreter's own (site, encodings, runpy, ...)
    hive_chain = [line for line in top[first_hive:] if line.name.split(".")[0] == "hive"]
    later = [line for line in top[first_hive:] if line.name.split(".")[0] != "hive"]

    def total_ms(some: list[ImportLine]) -> str:
        return f"{sum(x.cumulative_us for x in some) / 1000:.1f} ms"

    print()
    print("Imports during one `python -X importtime -m hive --help` (a single run, so noisy)")
    chain = ", ".join(line.name for line in hive_chain)
    print(f"  hive import chain ({chain}): {total_ms(hive_chain)}")
    print(f"  imported later while printing help: {total_ms(later)}", end="")
    print(f" ({', '.join(line.name for line in later)})" if later else "")
    print(f"  interpreter start-up imports (site, encodings, runpy...): {total_ms(startup)}")
    print(f"  all imports: {total_ms(top)} in {len(lines)} modules")
    print("  modules that must not load for --help:")
    ok = report_lazy(lines)
    print("  five slowest modules by self time (cumulative in brackets):")
    for line in sorted(lines, key=lambda x: x.self_us, reverse=True)[:5]:
        self_ms, cumulative_ms = line.self_us / 1000, line.cumulative_us / 1000
        print(f"    {self_ms:6.1f} ms  ({cumulative_ms:6.1f} ms)  {line.name}")

    # For comparison only (not a failure): a subcommand's help builds its parameters, and
    # Typer's own parameter coercion may import modules hive itself keeps lazy.
    lines = importtime(["consensus", "--help"], env)
    print()
    print("For comparison, `python -X importtime -m hive consensus --help` (informational):")
    print(f"  all imports: {total_ms([x for x in lines if x.depth == 0])} in {len(lines)} modules")
    print("  modules hive keeps lazy:")
    report_lazy(lines)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick check that it all still works: {SMOKE_RUNS} runs, no ratio verdict",
    )
    parser.add_argument(
        "--max-version-ratio",
        type=float,
        default=MAX_VERSION_RATIO,
        help=f"fail if --version takes more than this many times `python -c pass` "
        f"(default {MAX_VERSION_RATIO:g})",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    runs = SMOKE_RUNS if args.smoke else args.runs

    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    try:
        ratio = report_times(time_commands(runs, env), runs)
        ok = report_imports(env)
        ok = report_version_imports(env) and ok
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.smoke and ratio > args.max_version_ratio:
        print(f"FAIL: --version took {ratio:.2f}x the bare interpreter", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
