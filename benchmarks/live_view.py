"""The live terminal view's cost: CPU, frames and bytes while three fast streams go through it.

Feeds ``hive.ui.live.LiveRenderer`` (through its public surface only: the constructor, ``with``,
``handle`` and ``finish``) a scripted run the way ``hive consensus`` does: ``RunStarted`` with
the ``balanced`` plan (three generators, refine, validate, curate), the three generators
started, their ``TokenDelta`` events interleaved round-robin, each a ~4-character token ("word "
text, a newline every 12-30 tokens, a blank line now and then), each generator finished with a
``CallRecord``, then one refine stream, then ``finish(result)``. (The token events are made
once, in blocks of up to 5,000 a stream, and a long stream repeats its block: a long pass costs
no memory, and the view sees the same events as from fresh ones.) The console is a real Rich
``Console`` (120x40, truecolor, as a terminal) writing to a sink that discards the text and
counts what it was given:

- bytes: UTF-8 bytes written to the sink;
- frames: non-empty ``write()`` calls while the events go in (a frame is drawn in one write;
  the script has no warnings, so here every write is a frame), over the whole run and over the
  generators' streaming alone (their first token to their last: what the token rate could
  drive; a view may also redraw at once when a call starts or ends);
- CPU: ``time.process_time()`` around the event loop on the main thread: the whole process,
  so ``handle()`` and the view's drawing thread (10 Hz) both; ``time.thread_time()`` of the
  main thread alone is ``handle()`` (and the loop), the rest is the redraws. The process is pinned
  to one CPU (``--no-pin`` to not), so "tokens/s on one core" is literal.

Every pass runs side by side with the same events fed to a do-nothing sink (the bare loop), so
the view's cost is read against the loop's own:

- fast: no sleeps, as fast as the view takes them (``--tokens`` a stream; the median by CPU of
  ``--runs``). Target: >= 20,000 streamed tokens/s through the view, redraws included, on one
  core, so the view is never a run's bottleneck.
- at the target: the three streams paced to 20,000 tokens/s in all for ``--seconds``: long
  enough for ~10 redraws a second to count, however fast ``handle()`` is. Target: the view
  keeps up (the loop ends within 10% of its schedule).
- paced: three streams at ``--rate`` tokens/s each for ``--seconds``, as real models stream:
  the view's share of a core, frames/s, bytes/s.

The redraw runs on a clock, so frames/s while the generators stream should be ~10 in every
pass, whatever the token rate.

    python benchmarks/live_view.py [--tokens 250000] [--runs 3] [--rate 80] [--seconds 3]
                                   [--no-pin] [--smoke]

``--smoke``: tiny streams, one run, short paced passes: a quick check (for CI) that it still
works, not a measurement. Each target prints PASS or MISS; the exit code is 0 unless something
crashed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so an uninstalled hive imports

if TYPE_CHECKING:
    from rich.console import Console

    from hive.consensus.events import CallRecord, ConsensusResult, PipelineEvent

PROFILE = "balanced"
QUESTION = "How should a small team choose between SQLite and PostgreSQL for a new web app?"
WIDTH, HEIGHT = 120, 40
TARGET = 20_000  # streamed tokens/s through the view on one core
BLOCK = 5_000  # token events made per stream; longer streams repeat them
FRAMES_AT_MOST = 12.0  # a 10 Hz clock, with slack
# Tokens of ~4 characters, as models stream them (hive counts ~4 characters a token).
WORDS = (
    "the ", "data ", "base ", "team ", "app ", "is ", "a ", "write", "s ", "read ", "lock ",
    "file ", "one ", "server ", "and ", "when ", "row", "s, ", "it ", "scale", ". ", "use ",
    "SQL", "ite ", "Postgre", "SQL ", "for ", "small ", "load ", "but ", "not ", "many ",
)  # fmt: skip


class CountingSink(io.StringIO):
    """A terminal that keeps nothing: counts the (non-empty) write() calls and bytes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.bytes = 0
        self.times: list[float] = []  # when each write came (time.perf_counter)

    def write(self, text: str, /) -> int:
        if not text:  # Rich flushes an empty buffer as it leaves a capture: not a frame
            return 0
        self.writes += 1
        self.bytes += len(text.encode("utf-8", "replace"))
        self.times.append(time.perf_counter())
        return len(text)


def make_console(sink: CountingSink) -> Console:
    from rich.console import Console

    # A fixed environment: the redraws do not depend on TERM, NO_COLOR or COLUMNS here.
    return Console(
        file=sink, force_terminal=True, width=WIDTH, height=HEIGHT, color_system="truecolor",
        markup=False, highlight=False, _environ={"TERM": "xterm-256color"},
    )  # fmt: skip


def stream_text(rng: random.Random, tokens: int) -> list[str]:
    """``tokens`` tokens of prose: a newline every 12-30 tokens, a blank line every few lines."""
    out: list[str] = []
    until_newline = rng.randint(12, 30)
    for _ in range(tokens):
        token = rng.choice(WORDS)
        until_newline -= 1
        if until_newline == 0:
            token = token.rstrip() + ("\n\n" if rng.random() < 0.2 else "\n")
            until_newline = rng.randint(12, 30)
        out.append(token)
    return out


def record(stage: str, index: int, model: str, text: str, tokens: int) -> CallRecord:
    from hive.consensus.events import CallRecord

    return CallRecord(
        stage, index, model, model, "Provider", 900, tokens, Decimal("0.0012"), 850.0,
        tokens * 12.5, "stop", text, accepted=True,
    )  # fmt: skip


def repeated(block: list[PipelineEvent], per_block: int, tokens: int) -> list[list[PipelineEvent]]:
    """``block`` (``per_block`` tokens a stream) as many times as ``tokens`` a stream take."""
    whole, rest = divmod(tokens, per_block)
    return [block] * whole + ([block[: len(block) * rest // per_block]] if rest else [])


@dataclass
class Script:
    segments: list[list[PipelineEvent]]  # the events, in order (a repeated block is one list)
    window: tuple[int, int]  # segments[first:last]: the generators' tokens
    result: ConsensusResult
    tokens: int  # TokenDelta events among them


def script(per_stream: int, *, refine: bool, seed: int = 1) -> Script:
    """The events of a run: three generators round-robin, then (``refine``) one refine stream."""
    from hive.consensus.events import (
        CallFinished,
        CallPlan,
        CallStarted,
        ConsensusResult,
        RunStarted,
        TokenDelta,
    )
    from hive.consensus.profiles import BUILTIN_PROFILES

    profile = BUILTIN_PROFILES[PROFILE]
    rng = random.Random(seed)
    block = min(per_stream, BLOCK)
    generators = list(profile.generate.models)
    later = {stage: profile.stage(stage).models[0] for stage in ("refine", "validate", "curate")}
    plan = [CallPlan("generate", i, model) for i, model in enumerate(generators)]
    plan += [CallPlan(stage, 0, model) for stage, model in later.items()]
    head: list[PipelineEvent] = [RunStarted(QUESTION, profile.name, False, plan)]
    head += [CallStarted("generate", i, model) for i, model in enumerate(generators)]
    segments = [head]
    texts = [stream_text(rng, block) for _ in generators]
    rounds: list[PipelineEvent] = [
        TokenDelta("generate", i, texts[i][n]) for n in range(block) for i in range(len(texts))
    ]
    segments += repeated(rounds, block, per_stream)
    window = (1, len(segments))
    records = [
        record("generate", i, model, "".join(texts[i]), per_stream)
        for i, model in enumerate(generators)
    ]
    segments.append([CallFinished(r) for r in records])
    tokens = per_stream * len(generators)
    if refine:
        text = stream_text(rng, block)
        records.append(record("refine", 0, later["refine"], "".join(text), per_stream))
        segments.append([CallStarted("refine", 0, later["refine"])])
        segments += repeated([TokenDelta("refine", 0, t) for t in text], block, per_stream)
        segments.append([CallFinished(records[-1])])
        tokens += per_stream
    answer = (
        "## Short answer\n\nStart with **SQLite** for a single-server app with modest write "
        "load; move to **PostgreSQL** when many writers, several app servers or its "
        "extensions matter.\n\n- SQLite: one file, no server, one writer at a time.\n"
        "- PostgreSQL: concurrent writers, roles, replication, a server to run.\n"
    )
    result = ConsensusResult(
        QUESTION, profile.name, answer, False, 0.9, [], records, duration_ms=12_000.0
    )
    return Script(segments, window, result, tokens)


@dataclass
class Pass:
    """One pass of a script through a sink (the view, or the bare loop)."""

    tokens: int
    wall: float  # seconds, the event loop only
    cpu: float  # process CPU seconds during the event loop (every thread)
    main: float  # the main thread's CPU seconds (handle() and the loop)
    frames: int = 0  # non-empty write() calls during the event loop
    bytes: int = 0
    streaming: tuple[float, int, int] = (0.0, 0, 0)  # the generators' tokens: wall, frames, bytes
    # Frames a second while the generators stream, from the time between their first and last
    # frames (not from the window's length, which a frame more or less would skew); None
    # with fewer than 3 frames to tell it from.
    clock: float | None = None
    finish_cpu: float = 0.0  # finish(): the last frame and the printed report
    finish_bytes: int = 0

    def rate(self) -> float:
        """Tokens per CPU second, every thread counted (the view's throughput on one core)."""
        return self.tokens / self.cpu if self.cpu > 0 else float("inf")

    def redraw(self) -> float:
        """CPU seconds outside the main thread: the view's drawing thread."""
        return max(0.0, self.cpu - self.main)

    def share(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else 0.0

    def per_second(self, n: float) -> float:
        return n / self.wall if self.wall > 0 else 0.0

    def clock_text(self) -> str:
        if self.clock is None:
            return "too few frames to tell"
        return f"one every {1000 / self.clock:.0f} ms ({self.clock:.1f}/s)"


def feed(
    run: Script,
    sink: Callable[[PipelineEvent], None],
    per_second: float,
    mark: Callable[[], None] = lambda: None,
) -> None:
    """Every event to ``sink``; with ``per_second``, the TokenDelta events paced at that rate
    (in bursts when it is fast: the loop sleeps only when a millisecond or more ahead).
    ``mark`` is called as the generators' tokens begin and as they end."""
    from hive.consensus.events import TokenDelta

    start, n = time.perf_counter(), 0
    for i, segment in enumerate(run.segments):
        if i in run.window:
            mark()
        if per_second <= 0:
            for event in segment:
                sink(event)
            continue
        for event in segment:
            if isinstance(event, TokenDelta):
                delay = start + n / per_second - time.perf_counter()
                if delay >= 0.001:
                    time.sleep(delay)
                n += 1
            sink(event)


def discard(event: PipelineEvent) -> None:
    """The do-nothing sink: what the loop costs without a view."""


def bare_pass(run: Script, per_second: float = 0.0) -> Pass:
    wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    feed(run, discard, per_second)
    return Pass(
        run.tokens,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        time.thread_time() - main,
    )


def view_pass(run: Script, per_second: float = 0.0) -> Pass:
    """The script through a fresh view. Nothing may print meanwhile: a view may take over
    stdout or stderr while it runs (Rich's ``Live`` redirects them into its console)."""
    from hive.ui.live import LiveRenderer

    sink = CountingSink()
    marks: list[tuple[float, int, int]] = []

    def mark() -> None:
        marks.append((time.perf_counter(), sink.writes, sink.bytes))

    renderer = LiveRenderer(make_console(sink), detailed=False)
    with renderer:
        writes, written = sink.writes, sink.bytes
        wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
        feed(run, renderer.handle, per_second, mark)
        (began, frames_before, bytes_before), (ended, frames_after, bytes_after) = marks
        measured = Pass(
            run.tokens,
            time.perf_counter() - wall,
            time.process_time() - cpu,
            time.thread_time() - main,
            sink.writes - writes,
            sink.bytes - written,
            (ended - began, frames_after - frames_before, bytes_after - bytes_before),
        )
        times = sink.times[frames_before:frames_after]
        if len(times) >= 3 and times[-1] > times[0]:
            measured.clock = (len(times) - 1) / (times[-1] - times[0])
        written, cpu = sink.bytes, time.process_time()
        renderer.finish(run.result)
    measured.finish_cpu = time.process_time() - cpu
    measured.finish_bytes = sink.bytes - written
    return measured


def median_pass(passes: list[Pass]) -> Pass:
    """The pass of median CPU (its numbers belong together, unlike per-field medians)."""
    return sorted(passes, key=lambda p: p.cpu)[(len(passes) - 1) // 2]


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # threads started later (the drawing thread) inherit it
    return f"pinned to CPU {cpu}"


def us(seconds: float, tokens: int) -> float:
    """Microseconds a token."""
    return seconds / tokens * 1e6 if tokens else 0.0


def kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB"


def describe(view: Pass, bare: Pass) -> None:
    """A pass's numbers, the view's beside the bare loop's."""
    for name, p in (("bare loop (do-nothing sink)", bare), ("view (handle + redraws)", view)):
        print(
            f"  {name:<28} CPU {p.cpu * 1000:8.1f} ms  {us(p.cpu, p.tokens):8.3f} µs/token  "
            f"wall {p.wall:6.3f} s  CPU share {p.share():6.1%}"
        )
    print(
        f"    view: handle() (main thread) {view.main * 1000:.1f} ms, "
        f"redraws (other threads) {view.redraw() * 1000:.1f} ms"
        + (f", {view.redraw() / view.frames * 1000:.2f} ms a frame" if view.frames else "")
    )
    print(
        f"    frames {view.frames} ({view.per_second(view.frames):.1f}/s); written "
        f"{kb(view.bytes)} ({kb(view.per_second(view.bytes))}/s"
        + (f", {kb(view.bytes / view.frames)} a frame)" if view.frames else ")")
    )
    wall, frames, written = view.streaming
    print(
        f"    while the generators stream ({wall:.3f} s): {frames} "
        f"frame{'s' if frames != 1 else ''}, "
        f"{view.clock_text()}; {kb(written / wall if wall > 0 else 0)}/s"
    )
    print(
        f"    finish(): {view.finish_cpu * 1000:.1f} ms CPU, {kb(view.finish_bytes)} written "
        "(the last frame, the calls, the answer)"
    )


def paced(name: str, run: Script, per_second: float) -> tuple[Pass, Pass]:
    bare, view = bare_pass(run, per_second), view_pass(run, per_second)
    print(
        f"\n{name}: 3 generator streams x {per_second / 3:,.0f} tokens/s "
        f"({run.tokens:,} tokens, {per_second:,.0f} tokens/s in all, "
        f"{run.tokens / per_second:.2f} s scheduled)"
    )
    describe(view, bare)
    print(
        f"  the view / the bare loop: {view.share() - bare.share():+.1%} of a core "
        f"({view.share():.1%} against the pacing loop's {bare.share():.1%})"
    )
    return view, bare


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=250_000, help="tokens a stream, fast pass")
    parser.add_argument("--runs", type=int, default=3, help="fast passes each (median CPU)")
    parser.add_argument("--rate", type=float, default=80.0, help="tokens/s a stream, paced")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the paced passes")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--smoke", action="store_true", help="tiny streams, 1 run, 0.4 s paced")
    args = parser.parse_args()
    if args.smoke:
        args.tokens, args.runs, args.seconds = 300, 1, 0.4
    if args.tokens < 1 or args.runs < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--tokens, --runs, --rate and --seconds must be above 0")

    pinned = "not pinned (--no-pin)" if args.no_pin else pin_to_one_cpu()
    print(
        f"hive.ui.live.LiveRenderer on a {WIDTH}x{HEIGHT} truecolor console writing to a "
        f"counting sink; profile {PROFILE}'s plan; {pinned}"
    )
    view_pass(script(50, refine=True, seed=3))  # warm-up: imports, the first renders

    fast = script(args.tokens, refine=True)
    bare_runs: list[Pass] = []
    view_runs: list[Pass] = []
    for _ in range(args.runs):  # interleaved, so both see the same machine
        bare_runs.append(bare_pass(fast))
        view_runs.append(view_pass(fast))
    bare, view = median_pass(bare_runs), median_pass(view_runs)
    print(
        f"\nfast pass (no sleeps): 3 generator streams x {args.tokens:,} tokens round-robin, "
        f"then a refine stream of {args.tokens:,}: {fast.tokens:,} tokens; "
        f"{args.runs} run{'s' if args.runs != 1 else ''}, the median by CPU"
    )
    describe(view, bare)
    ratio = f"{view.cpu / bare.cpu:,.1f}x" if bare.cpu > 0 else "n/a (bare loop under a tick)"
    print(
        f"  the view / the bare loop: CPU {ratio}, +{us(view.cpu - bare.cpu, view.tokens):.3f} "
        f"µs a token; {view.rate():,.0f} tokens/s through the view on one core, redraws "
        f"included (handle() alone {view.tokens / view.main if view.main else 0:,.0f}/s)"
    )
    if args.runs > 1:
        rates = ", ".join(f"{p.rate():,.0f}" for p in view_runs)
        print(f"  each run's tokens/s through the view: {rates}")

    at_target = script(round(TARGET / 3 * args.seconds), refine=False, seed=2)
    target_view, _ = paced("at the target", at_target, TARGET)
    scheduled = at_target.tokens / TARGET
    kept_up = target_view.wall <= scheduled * 1.1
    real = script(max(1, round(args.rate * args.seconds)), refine=False, seed=4)
    real_view, _ = paced("paced", real, 3 * args.rate)

    print(
        "\ntargets:"
        + (" (smoke: tiny streams, a check that it runs, not a measurement)" if args.smoke else "")
    )
    print(
        f"  {verdict(view.rate() >= TARGET)}  >= {TARGET:,} streamed tokens/s through the view "
        f"on one core, redraws included: {view.rate():,.0f}/s ({view.rate() / TARGET:,.1f}x)"
    )
    print(
        f"  {verdict(kept_up)}  at {TARGET:,} tokens/s the view keeps up: the loop took "
        f"{target_view.wall:.3f} s of {scheduled:.3f} s scheduled, the view "
        f"{target_view.share():.1%} of a core, frames {target_view.clock_text()}"
    )
    passes = (view, target_view, real_view)
    clocks = [p.clock for p in passes if p.clock is not None]
    print(
        f"  {verdict(bool(clocks) and max(clocks) <= FRAMES_AT_MOST)}  the redraw keeps to its "
        f"clock, <= {FRAMES_AT_MOST:g} frames/s while the generators stream, whatever the "
        "token rate: "
        + ", ".join(
            f"{'?' if p.clock is None else f'{p.clock:.1f}'}/s at {p.per_second(p.tokens):,.0f} "
            "tokens/s"
            for p in passes
        )
    )
    print(
        f"        paced at {3 * args.rate:g} tokens/s: the view takes {real_view.share():.1%} of "
        f"a core and writes {kb(real_view.per_second(real_view.bytes))}/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
