"""The soak run: many consensus runs against a loopback OpenRouter that fails a share of calls.

Runs the real ``Pipeline`` with the real ``OpenRouterClient`` against
``tests.loopback.LoopbackOpenRouter`` on 127.0.0.1, and records every run in a real ``History``
in a temporary HIVE home, the way ``hive/cli/run.py`` does (a ``RunRecord`` starts the run,
takes the events and closes it with its status). ``--fault-rate`` of all planned calls,
chosen at random across the soak, are faulted: before each run, one fault per chosen call is queued
for that call's model, drawn from a mix of what OpenRouter really does (429 with
``Retry-After: 0``, 500, 502, 503, 524, 529, a stream cut mid-way, a malformed SSE event, an
empty answer, an in-band error). The first attempt takes the fault, so the retry policy (tiny
real waits, seeded jitter) can recover.

At the end it checks that history is complete: every run has a final status, every chat
request the server received is a recorded call (model for model, run for run), and the costs
recorded add up exactly to what the server billed — recomputed from the request bodies the
server recorded (``hive.openrouter.simulator.sse_events``) and, for faulted requests, from what
the fault actually sent. Costs hive *estimated* (a call the server reported no cost for, such
as a stream cut before its usage chunk, is priced from the catalog) are reported beside the
billed total, not in it: the server's bill is compared with the costs it reported.

    python benchmarks/soak.py [--runs 200] [--fault-rate 0.2] [--seed 1] [--smoke]

``--smoke`` runs only a handful of runs: a quick check (for CI) that the soak still works.

Exits 1 if any run failed or history is incomplete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so `tests.loopback` (and an uninstalled hive) import

if TYPE_CHECKING:
    from hive.consensus.events import PipelineEvent
    from hive.consensus.profiles import Profile
    from hive.openrouter.catalog import ModelPrice
    from hive.store.history import History
    from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

API_KEY = "sk-or-v1-soak-fake-key-not-real"
PROFILE = "balanced"
QUESTIONS = (
    "How should a small team choose between SQLite and PostgreSQL for a new web app?",
    "What are the trade-offs of async Python for an I/O-heavy command-line tool?",
    "How do I make a CLI's history database safe when several processes write to it?",
    "Wann lohnt sich ein Monorepo, und wann nicht? Kurz und mit Beispielen.",
    "小さなチームにとってコードレビューで最も大切なことは何ですか？",
)
SMOKE_RUNS = 5
RUN_TIME_LIMIT = 60.0  # seconds: a run taking longer than this is a hang
FAULT_KINDS = (
    "429 Retry-After: 0",
    "500",
    "502",
    "503",
    "524",
    "529",
    "cut mid-stream",
    "malformed SSE event",
    "empty answer",
    "in-band error",
)


# --- faults -------------------------------------------------------------------------------------


def _chunk(model: str, delta: dict[str, str], finish: str | None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "gen-soak-fault",
        "provider": "SoakProvider",
        "model": model,
        "object": "chat.completion.chunk",
        "created": 1786465029,
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish}
        ],
        **extra,
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def _usage(rng: random.Random) -> str:
    """A usage object as JSON text, its cost an exact decimal literal (as OpenRouter writes it)."""
    cost = Decimal(rng.randint(1, 99_999)).scaleb(-9)
    prompt, completion = rng.randint(20, 900), rng.randint(0, 40)
    return (
        f'{{"prompt_tokens":{prompt},"completion_tokens":{completion},'
        f'"total_tokens":{prompt + completion},"cost":{format(cost, "f")},"is_byok":false}}'
    )


def _with_usage(event: bytes, usage: str) -> bytes:
    """Splice a usage object into a chunk event, keeping its cost literal exact."""
    head = event.rstrip(b"\n")
    return head[:-1] + f',"usage":{usage}}}\n\n'.encode()


def make_fault(kind: str, model: str, rng: random.Random) -> Fault:
    from tests.loopback import Fault

    keep_alive = b": OPENROUTER PROCESSING\n\n"
    role = _chunk(model, {"role": "assistant", "content": ""}, None)
    if kind == "429 Retry-After: 0":
        return Fault(status=429, headers={"Retry-After": "0"})
    if kind in ("500", "502", "503", "524", "529"):
        return Fault(status=int(kind))
    if kind == "cut mid-stream":
        # the simulated reply, the connection dropped after its keep-alive, role chunk and a
        # few words: never as far as the usage chunk
        return Fault(cut_after=rng.randint(2, 8))
    words = [_chunk(model, {"content": w}, None) for w in ("A partial ", "answer ", "that ")]
    if kind == "malformed SSE event":
        broken = rng.choice(
            [
                b'data: {"id":"gen-soak-fault","choices":[{"delta":{"content":"Hal\n\n',
                b"data: <html><body>502 Bad Gateway</body></html>\n\n",
                b"data: [1, 2, 3]\n\n",
            ]
        )
        return Fault(events=[keep_alive, role, *words[: rng.randint(0, 3)], broken])
    if kind == "empty answer":
        finish = _chunk(model, {"content": ""}, "stop")
        usage = _with_usage(_chunk(model, {"content": ""}, "stop"), _usage(rng))
        return Fault(events=[keep_alive, role, finish, usage, b"data: [DONE]\n\n"])
    if kind == "in-band error":
        if rng.random() < 0.5:  # the real capture: error beside usage, then [DONE]
            error = {"code": 502, "message": "Upstream provider error"}
            failed = _with_usage(_chunk(model, {"content": ""}, None, error=error), _usage(rng))
            return Fault(events=[keep_alive, role, *words, failed, b"data: [DONE]\n\n"])
        # the docs: finish_reason "error", a string code, no usage, no [DONE]
        error = {"code": "server_error", "message": "Provider disconnected"}
        failed = _chunk(model, {"content": ""}, "error", error=error)
        return Fault(events=[keep_alive, role, *words[:1], failed])
    raise ValueError(f"unknown fault kind {kind!r}")


def sent_events(request: RecordedRequest, fault: Fault | None) -> list[bytes]:
    """The SSE events the server actually wrote for this request."""
    from hive.openrouter.simulator import sse_events

    if fault is not None and fault.status is not None:
        return []
    events = fault.events if fault is not None and fault.events is not None else None
    if events is None:
        events = sse_events(request.body)
    if fault is not None and fault.cut_after is not None:
        events = events[: fault.cut_after]
    return events


def billed(events: list[bytes]) -> Decimal:
    """What the server billed in these events: the cost of every usage object it sent."""
    total = Decimal(0)
    for event in events:
        lines = event.decode("utf-8", errors="replace").splitlines()
        data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
        try:
            chunk = json.loads(data, parse_float=Decimal)
        except ValueError:
            continue
        usage = chunk.get("usage") if isinstance(chunk, dict) else None
        cost = usage.get("cost") if isinstance(usage, dict) else None
        if isinstance(cost, Decimal | int) and not isinstance(cost, bool):
            total += Decimal(cost)
    return total


# --- the runs -----------------------------------------------------------------------------------


@dataclass
class Tally:
    runs: int = 0
    clean: int = 0
    degraded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    unfinished: list[int] = field(default_factory=list)  # run ids that ended in a bug
    faults_queued: Counter[str] = field(default_factory=Counter)
    faults_served: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    requests_matched_runs: int = 0  # runs whose server requests match their recorded calls
    billed: Decimal = Decimal(0)
    billed_matched_runs: int = 0  # runs whose recorded cost equals what the server billed
    mismatches: list[str] = field(default_factory=list)


async def one_run(
    n: int,
    server: LoopbackOpenRouter,
    history: History,
    profile: Profile,
    price_of: Callable[[str], ModelPrice | None],
    rng: random.Random,
    jitter: random.Random,
    faulted: set[int],
    tally: Tally,
    pending: dict[str, deque[tuple[str, Fault]]],
) -> None:
    """One consensus run, wired and recorded the way hive/cli/run.py does it."""
    from hive.consensus.caller import Caller
    from hive.consensus.pipeline import Pipeline
    from hive.consensus.profiles import STAGES
    from hive.errors import BudgetError, HiveError, StageError
    from hive.openrouter.client import OpenRouterClient, make_http_client
    from hive.openrouter.retry import RetryPolicy
    from hive.store.run_record import RunRecord

    plan = [model for stage in STAGES for model in profile.stage(stage).models]
    for i, model in enumerate(plan):
        if (n - 1) * len(plan) + i in faulted:
            kind = rng.choice(FAULT_KINDS)
            fault = make_fault(kind, model, rng)
            server.fail(model, fault)  # consumed by the first attempt at this model
            pending[model].append((kind, fault))
            tally.faults_queued[kind] += 1

    question = f"{QUESTIONS[n % len(QUESTIONS)]} (soak run {n})"
    before = len(server.requests)
    record = RunRecord(history, notice=lambda message: tally.failed.update([message]))
    run_id = record.start(question, profile.name, simulated=False)

    def emit(event: PipelineEvent) -> None:
        record.handle(event)

    policy = RetryPolicy(base_delay=0.01)
    tally.runs += 1
    async with make_http_client(api_key=API_KEY, base_url=server.base_url, timeout=30.0) as http:
        caller = Caller(OpenRouterClient(http), emit, price_of=price_of, policy=policy,
                        sleep=asyncio.sleep, rng=jitter)  # fmt: skip
        pipeline = Pipeline(caller, today=date.today())
        try:
            with record:  # closes the run under every exit path, as in hive/cli/run.py
                result = await asyncio.wait_for(
                    pipeline.run(question, profile, simulated=False), RUN_TIME_LIMIT
                )
                record.finish(
                    "degraded" if result.degraded else "ok", answer=result.answer,
                    confidence=result.confidence,
                    duration_ms=result.duration_ms, warnings=result.warnings,
                )  # fmt: skip
        except BudgetError as exc:
            tally.failed[f"budget: {exc}"] += 1
        except HiveError as exc:
            cause = type(exc).__name__
            if isinstance(exc, StageError):
                cause = f"{exc.stage} stage: {type(exc.cause).__name__}"
            tally.failed[cause] += 1
        except Exception as exc:  # a bug: the record is closed as failed; the tally says so
            tally.failed[f"untyped {type(exc).__name__}: {exc}"[:120]] += 1
            tally.unfinished.append(run_id)
        else:
            if result.degraded:
                tally.degraded += 1
            else:
                tally.clean += 1
    account(run_id, _requests_since(server, before), history, tally, pending)


def account(
    run_id: int,
    requests: list[RecordedRequest],
    history: History,
    tally: Tally,
    pending: dict[str, deque[tuple[str, Fault]]],
) -> None:
    """Match this run's server requests to its recorded calls, and what was billed to what was
    recorded. Replays the server's fault queues: per model they are first in, first out, and a
    model's requests never overlap (a retry starts after the failed attempt's reply)."""
    tally.requests += len(requests)
    served: list[Fault | None] = []
    for request in requests:
        queue = pending[str(request.body.get("model", ""))]
        if queue:
            kind, fault = queue.popleft()
            tally.faults_served[kind] += 1
            served.append(fault)
        else:
            served.append(None)
    run_billed = sum(
        (billed(sent_events(r, f)) for r, f in zip(requests, served, strict=True)), Decimal(0)
    )
    tally.billed += run_billed
    rows = history.db.execute(
        "SELECT model, cost, cost_estimated FROM calls WHERE run_id = ? ORDER BY id", (run_id,)
    ).fetchall()
    asked = sorted(str(r.body.get("model", "")) for r in requests)
    recorded = sorted(str(row["model"]) for row in rows)
    if asked == recorded:
        tally.requests_matched_runs += 1
    else:
        tally.mismatches.append(f"run {run_id}: server saw {asked}, history has {recorded}")
    run_cost = reported_cost(rows)
    if run_cost == run_billed:
        tally.billed_matched_runs += 1
    else:
        tally.mismatches.append(f"run {run_id}: recorded ${run_cost}, server billed ${run_billed}")


def reported_cost(calls: list[Any]) -> Decimal:
    """The sum of the costs the server reported (hive's own estimates left out)."""
    return sum(
        (Decimal(c["cost"]) for c in calls if c["cost"] is not None and not c["cost_estimated"]),
        Decimal(0),
    )


def estimated_cost(calls: list[Any]) -> Decimal:
    """The sum of the costs hive estimated for calls the server reported none for."""
    return sum(
        (Decimal(c["cost"]) for c in calls if c["cost"] is not None and c["cost_estimated"]),
        Decimal(0),
    )


def _requests_since(server: LoopbackOpenRouter, before: int) -> list[RecordedRequest]:
    return [r for r in server.requests[before:] if r.path.endswith("/chat/completions")]


# --- the report ---------------------------------------------------------------------------------


def report(tally: Tally, history: History, wall: float, planned_calls: int) -> bool:
    db = history.db
    runs = db.execute("SELECT id, status, finished_at, total_cost FROM runs").fetchall()
    calls = db.execute(
        "SELECT run_id, stage, idx, attempt, cost, cost_estimated, error FROM calls"
    ).fetchall()
    final = [r for r in runs if r["status"] != "running" and r["finished_at"] is not None]
    statuses = Counter(str(r["status"]) for r in runs)
    attempts: Counter[tuple[int, str, int]] = Counter(
        (int(c["run_id"]), str(c["stage"]), int(c["idx"])) for c in calls
    )
    histogram = Counter(attempts.values())
    recorded_cost = reported_cost(calls)
    estimated = estimated_cost(calls)
    runs_total = sum(
        (Decimal(r["total_cost"]) for r in runs if r["total_cost"] is not None), Decimal(0)
    )
    failed_calls = sum(1 for c in calls if c["error"] is not None)
    served = sum(tally.faults_served.values())
    answered = tally.clean + tally.degraded
    failed = sum(tally.failed.values())

    def line(label: str, value: object) -> None:
        print(f"{label:<40} {value}")

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "n/a"

    print()
    line("runs", tally.runs)
    line("answered (clean)", tally.clean)
    line("answered (degraded)", tally.degraded)
    line("failed", failed)
    for cause, count in tally.failed.most_common():
        line(f"  {cause}", count)
    line("answered, of all runs", f"{pct(answered, tally.runs)} (target 100%)")
    line("calls (one per planned model call)", f"{len(attempts)} (planned {planned_calls})")
    line(
        "attempts per call (histogram)",
        "  ".join(f"{k} attempt{'s' if k > 1 else ''}: {v}" for k, v in sorted(histogram.items())),
    )
    line(
        "faults injected (served / queued)",
        f"{served} / {sum(tally.faults_queued.values())} "
        f"({pct(served, len(attempts))} of calls, {pct(served, tally.requests)} of requests)",
    )
    for kind in FAULT_KINDS:
        line(f"  {kind}", tally.faults_served[kind])
    line("server chat requests", tally.requests)
    line("recorded calls (ok + failed attempts)", f"{len(calls)} ({failed_calls} failed)")

    print()
    print("history complete:")
    complete_runs = len(runs) == tally.runs and len(final) == len(runs)
    line("  runs with a row and a final status", f"{len(final)} / {tally.runs}  {dict(statuses)}")
    same_count = tally.requests == len(calls)
    line("  server requests == recorded calls", f"{tally.requests} == {len(calls)}: {same_count}")
    line("  runs whose requests match their calls", f"{tally.requests_matched_runs} / {tally.runs}")
    same_cost = recorded_cost == tally.billed and runs_total == recorded_cost + estimated
    line(
        "  reported cost == server billed",
        f"${format(recorded_cost, 'f')} == ${format(tally.billed, 'f')}: {same_cost}",
    )
    line("  estimated by hive (no cost reported)", f"${format(estimated, 'f')}")
    line("  runs' total_cost sum", f"${format(runs_total, 'f')} (reported + estimated)")
    line("  runs whose recorded cost is billed", f"{tally.billed_matched_runs} / {tally.runs}")
    for mismatch in tally.mismatches[:10]:
        print(f"    ! {mismatch}")
    complete = (
        complete_runs
        and same_count
        and same_cost
        and tally.requests_matched_runs == tally.runs
        and tally.billed_matched_runs == tally.runs
        and not tally.unfinished
    )
    line("  history complete", "yes" if complete else "NO")

    print()
    line("wall time", f"{wall:.1f} s ({wall / max(1, tally.runs) * 1000:.0f} ms per run)")
    ok = failed == 0 and complete
    line("result", "PASS: 100% answered, history complete" if ok else "FAIL")
    return ok


async def soak(args: argparse.Namespace, history: History) -> tuple[Tally, float, int]:
    from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
    from hive.openrouter.catalog import Catalog
    from tests.loopback import LoopbackOpenRouter

    profile = BUILTIN_PROFILES[PROFILE]
    catalog = Catalog.builtin()

    def price_of(model: str) -> ModelPrice | None:
        return catalog.price(model)

    per_run = sum(len(profile.stage(stage).models) for stage in STAGES)
    rng = random.Random(args.seed)  # which calls fail, and how
    jitter = random.Random(args.seed + 1)  # the retry policy's backoff jitter
    # Exactly --fault-rate of all planned calls, chosen at random across the whole soak.
    planned = per_run * args.runs
    faulted = set(rng.sample(range(planned), round(args.fault_rate * planned)))
    tally = Tally()
    pending: dict[str, deque[tuple[str, Fault]]] = defaultdict(deque)
    started = time.perf_counter()
    with LoopbackOpenRouter(api_key=API_KEY) as server:
        for n in range(1, args.runs + 1):
            await one_run(
                n, server, history, profile, price_of, rng, jitter, faulted, tally,
                pending,
            )  # fmt: skip
            if n % 50 == 0 or n == args.runs:
                print(
                    f"  run {n}/{args.runs}: {tally.clean + tally.degraded} answered, "
                    f"{sum(tally.failed.values())} failed, "
                    f"{sum(tally.faults_served.values())} faults served "
                    f"({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
    return tally, time.perf_counter() - started, planned


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="consensus runs (default 200)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.2, help="share of calls faulted (default 0.2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--smoke", action="store_true", help=f"only {SMOKE_RUNS} runs: a quick check that it works"
    )
    args = parser.parse_args()
    if args.smoke:
        args.runs = SMOKE_RUNS
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")

    with tempfile.TemporaryDirectory(prefix="hive-soak-") as home:
        os.environ["HIVE_HOME"] = home  # never the developer's own history
        from hive.store.history import History
        from hive.store.paths import resolve_paths

        history = History.open(resolve_paths())
        print(
            f"soak: {args.runs} runs of profile {PROFILE} against a loopback OpenRouter; "
            f"{args.fault_rate:.0%} of calls faulted (seed {args.seed}); history in {home}"
        )
        try:
            tally, wall, planned = asyncio.run(soak(args, history))
            ok = report(tally, history, wall, planned)
        finally:
            history.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
