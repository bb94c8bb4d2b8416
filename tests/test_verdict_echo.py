"""A validator that echoes the prompt's example verdict gives no confidence (issue 8, item 7).

Through the real CLI against the loopback OpenRouter: the validator's reply is scripted to be
a short review ending in the old prompt's example, ``{"confidence": 0.0, "issues": ["..."]}``,
which was read as a real verdict of zero confidence with one issue, "...".
"""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import hive_without_key
from tests.loopback import Fault, LoopbackOpenRouter
from tests.test_faults import CUR, VAL, openrouter_stream

ECHO = 'The answer looks right.\n\n<verdict>{"confidence": 0.0, "issues": ["..."]}</verdict>'


def consensus(*args: str) -> Any:
    return hive_without_key("consensus", "Why is the sky blue?", "speed", *args)


def curate_user_message(server: LoopbackOpenRouter) -> str:
    [curate] = [r for r in server.chat_requests() if r.body["model"] == CUR]
    return str(next(m["content"] for m in curate.body["messages"] if m["role"] == "user"))


def test_an_echoed_example_verdict_is_no_confidence_and_a_warning(
    keyed_env: LoopbackOpenRouter,
) -> None:
    keyed_env.fail(VAL, Fault(events=openrouter_stream(VAL, ECHO)))

    result = consensus("--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["confidence"] is None
    assert data["issues"] == []
    assert "the validator gave no verdict; confidence is unknown" in data["warnings"]
    # The curator gets the review's prose, not a fake issue "..." nor the echoed block.
    user = curate_user_message(keyed_env)
    assert "The answer looks right." in user
    assert "<verdict>" not in user and "- ..." not in user


def test_an_echoed_example_verdict_in_plain_output(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(VAL, Fault(events=openrouter_stream(VAL, ECHO)))

    result = consensus("--plain")

    assert result.exit_code == 0, result.stderr
    assert "hive: warning: the validator gave no verdict; confidence is unknown" in result.stderr
    assert "confidence n/a" in result.stderr
    assert "confidence 0.00" not in result.stderr


def test_placeholder_issues_are_dropped_from_a_real_verdict(keyed_env: LoopbackOpenRouter) -> None:
    reply = (
        "One problem.\n\n"
        '<verdict>{"confidence": 0.7, "issues": ["...", "The date is wrong.", "issue 2"]}'
        "</verdict>"
    )
    keyed_env.fail(VAL, Fault(events=openrouter_stream(VAL, reply)))

    result = consensus("--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["confidence"] == 0.7
    assert data["issues"] == ["The date is wrong."]
    assert not any("no verdict" in w for w in data["warnings"])
