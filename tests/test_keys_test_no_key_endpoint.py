"""``hive keys test`` against a server that has no ``GET /key`` (an OpenAI-compatible server
that is not OpenRouter, a wrong base URL) says what happened: the URL it asked and the status
it got — not "No endpoints found for this model" or a bare "unexpected reply from host/key".

Real client, real sockets: the loopback server answers ``GET /key`` the way such servers do.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import FAKE_KEY
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter

LLAMA_CPP_404 = b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}'
HTML_404 = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
HTML_PAGE = b"<!doctype html><html><body>Sign in to continue</body></html>"


def keys_test() -> Any:
    return hive("keys", "test")


def error_line(result: Any) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("testing the key from "), lines
    assert lines[1].startswith("hive: error: ")
    assert FAKE_KEY not in result.stdout + result.stderr
    return lines[1]


@pytest.mark.parametrize("body", [LLAMA_CPP_404, HTML_404, b""], ids=["json", "html", "empty"])
def test_a_server_without_a_key_endpoint(keyed_env: LoopbackOpenRouter, body: bytes) -> None:
    keyed_env.fail("GET /key", Fault(status=404, body=body or None))

    line = error_line(keys_test())

    assert line == (
        f"hive: error: GET {keyed_env.base_url}/key answered 404: this server has no key endpoint"
    )
    assert [r.path for r in keyed_env.requests] == ["/api/v1/key"]


def test_a_server_that_answers_with_a_web_page(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.key_body = HTML_PAGE

    line = error_line(keys_test())

    assert line.startswith(
        f"hive: error: unexpected reply: GET {keyed_env.base_url}/key answered 200 "
        "(application/json), not OpenRouter's JSON: '<!doctype html>"
    )


def test_other_statuses_still_say_what_the_server_said(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail("GET /key", Fault(status=500))

    line = error_line(keys_test())

    assert "Internal Server Error (HTTP 500)" in line
