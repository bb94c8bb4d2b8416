"""Adaptive consensus against the fixed pipeline, measured side by side in one run.

The real ``Pipeline`` and ``OpenRouterClient`` talk over real sockets to
``tests.loopback.LoopbackOpenRouter``, whose models are scripted: each has its own time to first
token (1-10 s) and speed (20-80 tokens/s), drawn once from a seeded RNG, and every reply reports
OpenRouter-style usage with the cost at the model's real price from hive's built-in catalog.
Drafts run 300-600 tokens, the refine its ledger then 800, the review 150, the curation 700.
All times are multiplied by ``--scale`` (0.02: a 10 s first token takes 0.2 s), and so is the
straggler floor, so the ratios are those of real time, measured in a fraction of it.

Three scenarios, each run with the built-in ``balanced`` profile and its adaptive rules (first
two generators, then the third only on disagreement; a clean review skips curation; stragglers
cut once two drafts are in, by 2x their median time, floor 10 s), interleaved with the fixed
pipeline (``adaptive_rules=False``) on the same questions:

- easy: the drafts agree (ledger: every claim held by every draft) and the review is clean
  (confidence 0.93, no issues);
- hard: the drafts disagree (each draft alone on the contested point, left unresolved) and the
  review is unsure (confidence 0.55, two issues);
- straggler: easy questions with one generator 20x slower (each generator in turn), against the
  same runs without it.

    python benchmarks/adaptive.py [--runs 8] [--scale 0.02] [--seed 7] [--smoke]

Each target prints PASS or MISS; the exit code is 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so `tests.loopback` (and an uninstalled hive) import

if TYPE_CHECKING:
    from hive.consensus.events import ConsensusResult, PipelineEvent
    from hive.consensus.profiles import Profile
    from hive.openrouter.catalog import ModelPrice
    from tests.loopback import LoopbackOpenRouter, Scripted

API_KEY = "sk-or-v1-bench-fake-key"
PROFILE = "balanced"
STRAGGLER_SLOWDOWN = 20.0
TOKENS = {"refine": 800, "validate": 150, "curate": 700}  # drafts: 300-600
DRAFT = re.compile(r'<draft id="(\w+)">')


@dataclass(frozen=True)
class Speed:
    """A scripted model: seconds to its first token, tokens per second after it."""

    ttft: float
    rate: float


@dataclass
class World:
    """What the scripted models do: their speeds, and which one is the straggler now."""

    scale: float
    speeds: dict[str, Speed]
    prices: dict[str, ModelPrice]
    straggler: str | None = None
    requests: int = 0

    def reply(self, body: dict[str, Any]) -> Scripted:
        from hive.openrouter.tokens import message_tokens
        from tests.loopback import Scripted

        self.requests += 1
        model = str(body["model"])
        messages = body["messages"]
        system = str(messages[0]["content"])
        user = str(messages[-1]["content"])
        hard = "[hard]" in user
        stage = stage_of(system)
        if stage == "generate":
            tokens = 300 + hashlib.sha256(f"{model}\n{user}".encode()).digest()[0] % 301
        else:
            tokens = TOKENS[stage]
        text = filler(tokens)
        if stage == "refine":  # the ledger first, as the refine prompt asks, then the answer
            labels = list(dict.fromkeys(DRAFT.findall(user)))
            text = f"<ledger>{json.dumps(ledger(labels, hard))}</ledger>\n\n{text}"
        elif stage == "validate":
            verdict = (
                {"confidence": 0.55, "issues": ["a claim is unsupported", "a case is missing"]}
                if hard
                else {"confidence": 0.93, "issues": []}
            )
            text += f"\n\n<verdict>{json.dumps(verdict)}</verdict>"
        speed = self.speeds[model]
        slow = STRAGGLER_SLOWDOWN if model == self.straggler and stage == "generate" else 1.0
        prompt = message_tokens(messages)
        price = self.prices[model]
        events = stream(model, text, prompt, tokens, price.cost(prompt, tokens))
        return Scripted(
            events,
            first_byte=speed.ttft * slow * self.scale,
            latency=tokens / speed.rate * slow * self.scale,
        )


def stage_of(system: str) -> str:
    from hive.consensus.prompts import LEDGER_TAG, VERDICT_TAG

    if f"<{LEDGER_TAG}>" in system:
        return "refine"
    if f"<{VERDICT_TAG}>" in system:
        return "validate"
    if system.startswith("You write the final answer"):
        return "curate"
    return "generate"


def filler(tokens: int) -> str:
    """About ``tokens`` tokens of text (hive counts ~4 characters a token)."""
    return " ".join("word" for _ in range(tokens))


def ledger(labels: list[str], hard: bool) -> dict[str, Any]:
    """Easy: every draft holds every claim. Hard: each draft alone on the contested point,
    which the answer could not settle."""
    if not hard:
        claims = [
            {"claim": f"claim {n}", "supported_by": labels, "contradicted_by": []} for n in range(4)
        ]
        return {"claims": claims, "disputes": [], "unique": [], "gaps": []}
    return {
        "claims": [
            {"claim": "the shared fact", "supported_by": labels, "contradicted_by": []},
            {
                "claim": "the contested point",
                "supported_by": labels[:1],
                "contradicted_by": labels[1:],
            },
        ],
        "disputes": [
            {
                "claim": "the contested point",
                "positions": [{"position": f"view {x}", "drafts": [x]} for x in labels],
                "resolution": "the evidence does not settle it",
                "resolved": False,
            }
        ],
        "unique": [],
        "gaps": [],
    }


def stream(model: str, text: str, prompt: int, completion: int, cost: Decimal) -> list[bytes]:
    """OpenRouter's SSE: content chunks, then finish_reason and usage with the cost, then DONE."""
    words = re.findall(r"\S+\s*", text)
    size = max(1, len(words) // 20)
    pieces = ["".join(words[i : i + size]) for i in range(0, len(words), size)]

    def chunk(content: str, finish: str | None = None, usage: str = "") -> bytes:
        choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
        body = json.dumps({"id": "gen-bench", "model": model, "choices": [choice]})
        extra = f',"usage":{{{usage}}}' if usage else ""
        return f"data: {body[:-1]}{extra}}}\n\n".encode()

    usage = (
        f'"prompt_tokens":{prompt},"completion_tokens":{completion},'
        f'"total_tokens":{prompt + completion},"cost":{format(cost, "f")}'
    )
    return [*(chunk(p) for p in pieces), chunk("", "stop", usage), b"data: [DONE]\n\n"]


@dataclass
class Sample:
    wall: float
    calls: int
    cost: Decimal
    decisions: list[str] = field(default_factory=list)
    full: bool = False  # every generator's draft made it, and refine, validate and curate ran
    # What no adaptive rule can remove from this run: its refine and validate calls and the
    # cheapest ``quorum`` drafts (a fixed run's floor for what adapting could cost).
    unavoidable: Decimal = Decimal(0)


def thorough(result: ConsensusResult, profile: Profile) -> bool:
    """Whether the run had the whole panel and every stage: a completed draft from each
    generator, and a completed refine, validate and curate (what the fixed pipeline does)."""
    done = {(c.stage, c.model) for c in result.calls if c.ok}
    drafts = {model for stage, model in done if stage == "generate"}
    stages = {stage for stage, _ in done}
    return set(profile.generate.models) <= drafts and {"refine", "validate", "curate"} <= stages


def discard(event: PipelineEvent) -> None:
    """The event sink: a silent run."""


def unavoidable(result: ConsensusResult, quorum: int) -> Decimal:
    """The cost of the calls none of the rules skips: the refine and the validate (a refine is
    how agreement is measured, a validate is how curation is skipped) and as many drafts as the
    quorum, the cheapest ones. Read from a fixed run, it bounds what any rule could save."""
    later = sum((c.cost or Decimal(0) for c in result.calls if c.stage in ("refine", "validate")),
                Decimal(0))  # fmt: skip
    drafts = sorted(c.cost or Decimal(0) for c in result.calls if c.stage == "generate")
    return later + sum(drafts[:quorum], Decimal(0))


async def run_once(
    server: LoopbackOpenRouter, profile: Profile, question: str, *, adaptive: bool, seed: int
) -> Sample:
    from hive.consensus.caller import Caller
    from hive.consensus.pipeline import Pipeline
    from hive.openrouter.catalog import builtin_prices
    from hive.openrouter.client import OpenRouterClient, make_http_client

    async with make_http_client(api_key=API_KEY, base_url=server.base_url) as http:
        caller = Caller(OpenRouterClient(http), discard, price_of=builtin_prices().get)
        pipeline = Pipeline(caller, today=date.today(), seed=seed, adaptive_rules=adaptive)
        started = time.perf_counter()
        result: ConsensusResult = await pipeline.run(question, profile, simulated=False)
        wall = time.perf_counter() - started
    if result.cost.unknown:
        raise RuntimeError("a call of unknown cost: every scripted reply reports one")
    decisions: list[str] = [d.kind for d in result.decisions]
    return Sample(
        wall, len(result.calls), result.cost.known, decisions, thorough(result, profile),
        unavoidable(result, profile.adaptive.quorum),
    )  # fmt: skip


def p90(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]
    )


@dataclass
class Measured:
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> list[float]:
        return [s.wall for s in self.samples]

    def median(self) -> float:
        return statistics.median(self.wall())

    def p90(self) -> float:
        return p90(self.wall())

    def calls(self) -> float:
        return statistics.mean(s.calls for s in self.samples)

    def cost(self) -> Decimal:
        return Decimal(statistics.mean(float(s.cost) for s in self.samples)).quantize(
            Decimal("0.000001")
        )

    def ceiling(self) -> float:
        """The largest share of these (fixed) runs' cost any adaptive rule could have saved."""
        floor = statistics.mean(float(s.unavoidable) for s in self.samples)
        return 1 - floor / float(self.cost())


def ratio_line(name: str, a: Measured, b: Measured) -> tuple[float, float, float, float]:
    """Print adaptive (``a``) against the baseline (``b``); return the four ratios."""
    ratios = (
        a.median() / b.median(),
        a.p90() / b.p90(),
        a.calls() / b.calls(),
        float(a.cost()) / float(b.cost()),
    )
    print(
        f"  {name:<34} median wall {ratios[0]:.2f}x  p90 wall {ratios[1]:.2f}x  "
        f"calls {ratios[2]:.2f}x  cost {ratios[3]:.2f}x"
    )
    return ratios


def describe(name: str, m: Measured) -> None:
    kinds: dict[str, int] = {}
    for sample in m.samples:
        for kind in sample.decisions:
            kinds[kind] = kinds.get(kind, 0) + 1
    decided = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"
    print(
        f"  {name:<34} median {m.median():.3f}s  p90 {m.p90():.3f}s  calls {m.calls():.2f}  "
        f"cost ${m.cost()}  decisions: {decided}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    from hive.consensus.profiles import BUILTIN_PROFILES
    from hive.openrouter.catalog import builtin_prices
    from tests.loopback import LoopbackOpenRouter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=8, help="runs per mode and scenario")
    parser.add_argument("--scale", type=float, default=0.02, help="seconds per modelled second")
    parser.add_argument("--seed", type=int, default=7, help="the models' speeds")
    parser.add_argument(
        "--profile", default=PROFILE, help="a built-in profile, with its adaptive rules"
    )
    parser.add_argument("--smoke", action="store_true", help="1 run each at scale 0.002 (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.scale = 1, 0.002
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be at least 1 and --scale above 0")

    if args.profile not in BUILTIN_PROFILES:
        parser.error(f"--profile: one of {', '.join(BUILTIN_PROFILES)}")
    base = BUILTIN_PROFILES[args.profile]
    rules = base.adaptive.model_copy(
        update={"straggler_floor": base.adaptive.straggler_floor * args.scale}
    )
    profile = base.model_copy(update={"adaptive": rules})
    rng = random.Random(args.seed)
    prices = builtin_prices()
    speeds = {
        model: Speed(ttft=rng.uniform(1, 10), rate=rng.uniform(20, 80))
        for model in profile.all_models()
    }
    world = World(args.scale, speeds, prices)
    print(
        f"profile {base.name} (adaptive: first_panel {rules.first_panel}, quorum {rules.quorum}, "
        f"straggler {rules.straggler_factor:g}x median, floor {base.adaptive.straggler_floor:g}s "
        f"modelled = {rules.straggler_floor:g}s at this scale, skip_curate {rules.skip_curate}) "
        f"against the fixed pipeline; "
        f"{args.runs} runs per mode and scenario; time scale {args.scale:g}"
    )
    print("scripted models (modelled seconds):")
    for model in profile.models():
        s = speeds[model]
        print(f"  {model:<36} first token {s.ttft:4.1f}s  {s.rate:4.1f} tokens/s")

    generators = list(profile.generate.models)
    first = rules.first_panel if 0 < rules.first_panel < len(generators) else len(generators)
    # The quorum rule alone: every generator asked at once (no first panel).
    full_panel = profile.model_copy(
        update={"adaptive": rules.model_copy(update={"first_panel": 0})}
    )
    results: dict[str, Measured] = {}
    # With as many generators as the quorum, no draft is ever left out: no straggler scenario.
    quorum_applies = min(rules.quorum, len(generators)) < len(generators)
    if not quorum_applies:
        print(
            f"no straggler scenario: {len(generators)} generator(s) and a quorum of "
            f"{rules.quorum}: the rule never leaves a draft out here"
        )

    def measure(
        key: str,
        question: str,
        *,
        adaptive: bool,
        straggler: str | None,
        n: int,
        using: Profile = profile,
    ) -> None:
        world.straggler = straggler
        with LoopbackOpenRouter(api_key=API_KEY, script=world.reply) as server:
            sample = asyncio.run(run_once(server, using, question, adaptive=adaptive, seed=n))
        results.setdefault(key, Measured()).samples.append(sample)

    started = time.perf_counter()
    for n in range(args.runs):
        for kind in ("easy", "hard"):
            question = f"[{kind}] question {n}: what should a small team know about topic {n}?"
            measure(f"{kind} adaptive", question, adaptive=True, straggler=None, n=n)
            measure(f"{kind} fixed", question, adaptive=False, straggler=None, n=n)
        question = f"[easy] question {n}: what should a small team know about topic {n}?"
        if quorum_applies:
            slow = generators[n % len(generators)]
            measure("straggler, full panel", question, adaptive=True, straggler=slow, n=n,
                    using=full_panel)  # fmt: skip
            measure("no straggler, full panel", question, adaptive=True, straggler=None, n=n,
                    using=full_panel)  # fmt: skip
            measure("straggler, fixed", question, adaptive=False, straggler=slow, n=n)
        if first < len(generators):
            slow = generators[n % first]
            measure("straggler in the first panel", question, adaptive=True, straggler=slow,
                    n=n)  # fmt: skip
            measure("no straggler, first panel", question, adaptive=True, straggler=None, n=n)
    took = time.perf_counter() - started

    print("\nmeasured (wall time in real seconds at this scale; cost in USD per run):")
    for key, m in results.items():
        describe(key, m)
    print("\nratios, measured side by side:")
    easy = ratio_line("easy: adaptive / fixed", results["easy adaptive"], results["easy fixed"])
    hard = ratio_line("hard: adaptive / fixed", results["hard adaptive"], results["hard fixed"])
    cuts: list[tuple[str, float]] = []
    if "straggler, full panel" in results:
        full = ratio_line(
            "straggler, full panel / without",
            results["straggler, full panel"], results["no straggler, full panel"],
        )  # fmt: skip
        cuts.append(("all generators asked at once (the quorum rule)", full[0]))
        ratio_line(
            "straggler, fixed / full panel w/o",
            results["straggler, fixed"], results["no straggler, full panel"],
        )  # fmt: skip
    if "straggler in the first panel" in results:
        replaced = ratio_line(
            "straggler in 1st panel / without",
            results["straggler in the first panel"], results["no straggler, first panel"],
        )  # fmt: skip
        cuts.append(
            (f"the straggler among the first {first} (the next generator asked alongside)",
             replaced[0])
        )  # fmt: skip

    hard_runs = results["hard adaptive"].samples
    full_runs = sum(s.full for s in hard_runs)
    taken = sorted({k for s in results["hard adaptive"].samples for k in s.decisions})
    print(
        "\ntargets:"
        + (
            " (smoke: one run each at a tiny scale, a check that it runs, not a measurement)"
            if args.smoke
            else ""
        )
    )
    print(
        f"  {verdict(easy[0] <= 0.70)}  easy: >= 30% less wall time (median {1 - easy[0]:.0%} less)"
    )
    ceiling = results["easy fixed"].ceiling()
    print(
        f"  {verdict(easy[3] <= 0.70)}  easy: >= 30% less cost ({1 - easy[3]:.0%} less; "
        f"at most {ceiling:.0%} is possible here: the refine, the validate and {rules.quorum} "
        f"drafts are {1 - ceiling:.0%} of a fixed run's cost, and no rule skips them)"
    )
    for where, ratio in cuts:
        print(
            f"  {verdict(ratio <= 1.2)}  straggler, {where}: median wall within 1.2x of the "
            f"same runs without it ({ratio:.2f}x)"
        )
    print(
        f"  {verdict(full_runs == len(hard_runs))}  hard: no loss of thoroughness: "
        f"{full_runs}/{len(hard_runs)} hard runs had every generator's draft and refine, validate "
        f"and curate, as the fixed pipeline (decisions: {', '.join(taken) or 'none'})"
    )
    print(
        f"        hard: what escalating costs: {hard[0]:.2f}x the fixed pipeline's "
        f"median wall time, {hard[3]:.2f}x its cost"
    )
    print(f"\n{world.requests} scripted requests in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
