"""Any attempt whose cost the server reported is recorded with that cost, whatever happened to
the answer (issue 8, item 4) — and a whole answer is not thrown away for a lost tail.

Real pipeline runs over real sockets (the loopback OpenRouter): streams that report usage and
then stall, break, or never finish.
"""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import chunk, last_run
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter
from tests.test_faults import GEN, REF, asked, openrouter_stream, run_pipeline

USAGE = '"prompt_tokens":40,"completion_tokens":3,"cost":0.0000420'


def test_a_stall_after_the_model_finished_keeps_the_answer_and_its_cost(
    openrouter: LoopbackOpenRouter,
) -> None:
    """Finish and usage arrived, then nothing ([DONE] never came): retrying would pay twice."""
    events = openrouter_stream(GEN, "Rayleigh scattering.")[:-1]  # no [DONE]
    openrouter.fail(GEN, Fault(events=events, stall=True))

    out = run_pipeline(openrouter.base_url, timeout=0.5)

    assert out.result is not None and not out.result.degraded
    assert asked(openrouter)[:2] == [GEN, REF]
    assert out.attempts("generate") == [(GEN, 1, True)]
    [draft] = [c for c in out.calls if c.stage == "generate"]
    assert draft.content == "Rayleigh scattering."
    assert draft.cost == Decimal("0.0000420") and not draft.cost_estimated
    assert out.sleeps == []
    [warning] = out.warnings
    assert warning.startswith(f"generate ({GEN}): the stream broke after the model finished (")
    assert warning.endswith("the answer is complete")


def test_a_stall_after_the_finish_reason_keeps_the_answer_and_says_the_cost_is_missing(
    openrouter: LoopbackOpenRouter,
) -> None:
    events = [e for e in openrouter_stream(GEN, "Rayleigh scattering.") if b'"usage"' not in e][:-1]
    openrouter.fail(GEN, Fault(events=events, stall=True))

    out = run_pipeline(openrouter.base_url, timeout=0.5)

    assert out.attempts("generate") == [(GEN, 1, True)]
    [draft] = [c for c in out.calls if c.stage == "generate"]
    assert draft.content == "Rayleigh scattering." and draft.finish_reason == "stop"
    [warning] = out.warnings
    assert warning.endswith("the answer is complete, but its usage and cost were not reported")


def test_a_timeout_after_usage_records_the_cost_of_the_failed_attempt(
    openrouter: LoopbackOpenRouter,
) -> None:
    """Usage came, the finish reason never did: a broken answer, but a billed one."""
    events = [chunk(REF, "Half an ", full=True), chunk(REF, "", None, USAGE, full=True)]
    openrouter.fail(REF, Fault(events=events, stall=True))

    out = run_pipeline(openrouter.base_url, timeout=0.5)

    assert out.result is not None and not out.result.degraded
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, True)]
    failed = next(c for c in out.calls if c.stage == "refine")
    assert failed.error is not None and "0.5 s" in failed.error
    assert failed.content == "Half an "
    assert failed.cost == Decimal("0.0000420") and not failed.cost_estimated
    assert (failed.prompt_tokens, failed.completion_tokens) == (40, 3)


def test_a_cut_after_usage_without_finish_records_the_cost(
    openrouter: LoopbackOpenRouter,
) -> None:
    events = [chunk(REF, "Half an ", full=True), chunk(REF, "", None, USAGE, full=True)]
    openrouter.fail(REF, Fault(events=events, cut_after=len(events)))

    out = run_pipeline(openrouter.base_url)

    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, True)]
    failed = next(c for c in out.calls if c.stage == "refine")
    assert failed.error == "the stream ended before the model finished"
    assert failed.cost == Decimal("0.0000420")


def test_cli_history_keeps_the_skipped_line_and_the_one_paid_call(
    keyed_env: LoopbackOpenRouter,
) -> None:
    events = openrouter_stream(GEN, "Rayleigh scattering.")
    events.insert(2, b"data: <html>502 Bad Gateway</html>\n\n")
    keyed_env.fail(GEN, Fault(events=events))

    result = hive("consensus", "Why is the sky blue?", "speed", "--plain")

    assert result.exit_code == 0, result.stderr
    warning = f"generate ({GEN}): skipped a malformed stream line: '<html>502 Bad Gateway</html>'"
    assert f"hive: warning: {warning}" in result.stderr
    run = last_run()
    assert warning in run.warnings
    [draft] = [c for c in run.calls if c.stage == "generate"]
    assert (draft.attempt, draft.error, draft.content) == (1, None, "Rayleigh scattering.")
    assert Decimal(str(draft.cost)) == Decimal("0.0000420")
    assert asked(keyed_env).count(GEN) == 1  # billed once, recorded once
