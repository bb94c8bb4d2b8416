"""The consensus pipeline's own overhead, measured against a real local HTTP server.

Runs the real ``Pipeline`` with the real ``OpenRouterClient`` (httpx, SSE reader, reducer)
against ``tests.loopback.LoopbackOpenRouter`` on 127.0.0.1. The server waits ``--first-byte``
seconds before each stream's first byte and spreads each stream over ``--latency`` seconds, and
records when it started and finished serving each request. The fastest any client could finish
a run is the critical path: the slowest generator, then refine, validate and curate, each as
long as the server took to serve it. Whatever wall time goes beyond that is hive's overhead:
start-up of each call, parsing, events, and the gaps between one stage's end and the next
stage's request.

    python benchmarks/overhead.py [--profile balanced] [--runs 5] [--first-byte 0.05]
                                  [--latency 0.20] [--smoke]

``--smoke``: one measured run with a fast server, a quick check (for CI) that it still works.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so `tests.loopback` (and an uninstalled hive) import

if TYPE_CHECKING:
    from hive.consensus.events import PipelineEvent
    from hive.consensus.profiles import Profile
    from tests.loopback import LoopbackOpenRouter, RecordedRequest

API_KEY = "sk-or-v1-bench-fake-key"
QUESTION = "How should a small team choose between SQLite and PostgreSQL for a new web app?"
LATER_STAGES = ("refine", "validate", "curate")


@dataclass(frozen=True)
class Span:
    """One request as the server saw it, in ``time.monotonic`` seconds."""

    model: str
    started: float
    finished: float  # when the server ended the response (as recorded)

    def duration(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True)
class RunResult:
    wall: float
    generators: list[Span]
    later: dict[str, Span]  # refine, validate, curate
    run_started: float
    run_finished: float

    def critical_path(self) -> float:
        slowest = max(span.duration() for span in self.generators)
        return slowest + sum(self.later[stage].duration() for stage in LATER_STAGES)

    def ratio(self) -> float:
        return self.wall / self.critical_path()

    def overhead(self) -> float:
        return self.wall - self.critical_path()

    def overlapped(self) -> bool:
        """Whether every generator request started before any of them finished."""
        return max(s.started for s in self.generators) < min(s.finished for s in self.generators)

    def gaps(self) -> dict[str, float]:
        """Client-side time between the server finishing one stage and receiving the next."""
        gen_start = min(s.started for s in self.generators)
        gaps = {
            "run start → first generator": gen_start - self.run_started,
            "generator start spread": max(s.started for s in self.generators) - gen_start,
        }
        previous, previous_end = "generate", max(s.finished for s in self.generators)
        for stage in LATER_STAGES:
            span = self.later[stage]
            gaps[f"{previous} → {stage}"] = span.started - previous_end
            previous, previous_end = stage, span.finished
        gaps["curate → run returned"] = self.run_finished - previous_end
        return gaps


def discard(event: PipelineEvent) -> None:
    """The event sink: a silent run."""


def span_of(request: RecordedRequest) -> Span:
    model = str(request.body.get("model", "?"))
    return Span(model, request.started, request.finished)


async def run_once(server: LoopbackOpenRouter, profile: Profile) -> RunResult:
    from hive.consensus.caller import Caller
    from hive.consensus.pipeline import Pipeline
    from hive.openrouter.client import OpenRouterClient, make_http_client

    before = len(server.requests)
    async with make_http_client(api_key=API_KEY, base_url=server.base_url) as http:
        # The fixed pipeline (every stage, the full panel): the overhead measured is hive's
        # own, on a run whose calls are known in advance (benchmarks/adaptive.py measures
        # what the adaptive rules save).
        caller = Caller(OpenRouterClient(http), discard)
        pipeline = Pipeline(caller, today=date.today(), adaptive_rules=False)
        run_started = time.monotonic()  # the clock the loopback server records with
        await pipeline.run(QUESTION, profile, simulated=False)
        run_finished = time.monotonic()

    requests = server.requests[before:]
    n_gen = len(profile.generate.models)
    expected = n_gen + len(LATER_STAGES)
    if len(requests) != expected or any(r.finished == 0.0 for r in requests):
        raise RuntimeError(f"expected {expected} finished requests, saw {len(requests)}")
    # The pipeline awaits every generator before refine, so arrival order tells the stages.
    spans = [span_of(r) for r in requests]
    generators, later = spans[:n_gen], dict(zip(LATER_STAGES, spans[n_gen:], strict=True))
    if sorted(s.model for s in generators) != sorted(profile.generate.models) or any(
        later[stage].model != profile.stage(stage).models[0] for stage in LATER_STAGES
    ):
        raise RuntimeError("the server saw requests in an unexpected order")
    return RunResult(run_finished - run_started, generators, later, run_started, run_finished)


def pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def print_run(n: int, result: RunResult) -> None:
    overlapped = "yes" if result.overlapped() else "NO"
    if len(result.generators) == 1:
        overlapped = "n/a (one generator)"
    print(f"run {n}: wall {result.wall * 1000:.1f} ms; generators overlapped: {overlapped}")
    print(
        f"    critical path {result.critical_path() * 1000:7.1f} ms   "
        f"ratio {result.ratio():.4f}   "
        f"overhead {result.overhead() * 1000:5.1f} ms ({pct(result.ratio())})"
    )
    print("    where the rest goes (stage gaps: server-side end to next start):")
    for name, value in result.gaps().items():
        print(f"      {name:<30} {value * 1000:5.2f} ms")


def summary(results: list[RunResult]) -> str:
    ratio = statistics.median(r.ratio() for r in results)
    overhead = statistics.median(r.overhead() for r in results)
    critical = statistics.median(r.critical_path() for r in results)
    return (
        f"{(ratio - 1) * 100:.1f}% ({overhead * 1000:.1f} ms over a {critical:.3f} s critical "
        f"path; median ratio wall/critical path {ratio:.4f})"
    )


def default_profile() -> str:
    """The profile ``hive consensus`` uses when given none: the settings' default."""
    from hive.store.settings import Settings

    return str(Settings.model_fields["default_profile"].default)


def main() -> int:
    from hive.consensus.profiles import BUILTIN_PROFILES
    from tests.loopback import LoopbackOpenRouter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--profile", default=default_profile(), choices=list(BUILTIN_PROFILES))
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument(
        "--first-byte", type=float, default=0.05, help="seconds before each stream's first byte"
    )
    parser.add_argument(
        "--latency", type=float, default=0.20, help="seconds each stream takes after its first byte"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one run, 10 ms first byte, 20 ms streams: a quick check that it works",
    )
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.first_byte, args.latency = 1, 0.01, 0.02
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    profile = BUILTIN_PROFILES[args.profile]
    n_gen = len(profile.generate.models)

    print(
        f"profile {profile.name}: {n_gen} generator{'s' if n_gen != 1 else ''}, then refine, "
        f"validate, curate; server: first byte {args.first_byte * 1000:.0f} ms, "
        f"stream {args.latency * 1000:.0f} ms; {args.runs} runs after 1 warm-up run"
    )
    results: list[RunResult] = []
    with LoopbackOpenRouter(
        first_byte=args.first_byte, latency=args.latency, api_key=API_KEY
    ) as server:
        asyncio.run(run_once(server, profile))  # warm-up: imports, first connect
        for n in range(1, args.runs + 1):
            result = asyncio.run(run_once(server, profile))
            results.append(result)
            print_run(n, result)

    overlapped = sum(r.overlapped() for r in results)
    print()
    if n_gen == 1:
        print("generator overlap: n/a, the profile has one generator")
    else:
        print(
            f"generator requests overlapped (all started before any finished): {overlapped}/"
            f"{len(results)} runs"
        )
    print(f"median overhead: {summary(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
