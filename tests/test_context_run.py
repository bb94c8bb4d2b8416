"""Files, instructions, follow-ups, one-off panels, reruns and --no-log, read off the request
bodies the loopback server recorded: what every stage was sent, in what order, and what was
refused before anything was sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from hive.consensus.context import FILES, FOLLOW_UP, INSTRUCTIONS, JOB
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.store.history import db_path
from hive.store.paths import resolve_paths
from tests.conftest import last_run
from tests.helpers import hive, ok
from tests.loopback import DEFAULT_MODELS, LoopbackOpenRouter, RecordedRequest

DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-print('hi')\n+print('hello')\n"
QUESTION = "review this"


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return str(path)


def flat(request: RecordedRequest) -> str:
    return "\n".join(str(m["content"]) for m in request.body["messages"])


# --- files ----------------------------------------------------------------------------------


def test_a_file_goes_to_every_stage_first_and_named(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    patch = write(tmp_path, "change.patch", DIFF)
    ok(hive("consensus", QUESTION, "balanced", "-f", patch, "--fixed", "-q"))

    requests = keyed_env.chat_requests()
    assert len(requests) == 6
    shared = {r.body["messages"][0]["content"].partition(JOB)[0] for r in requests}
    assert len(shared) == 1  # the same shared text at the front of every call
    [front] = shared
    assert front.startswith(FILES)
    assert f'<file name="{patch}">\n{DIFF.rstrip()}\n</file>' in front
    for request in requests:
        text = flat(request)
        assert text.index(DIFF.rstrip()) < text.rindex(QUESTION)  # the file before the question
        # One system message, first; the stage's own job follows the shared text in it.
        roles = [m["role"] for m in request.body["messages"]]
        assert roles == ["system", "user"]
        job = request.body["messages"][0]["content"].partition(JOB)[2]
        assert job.strip() and FILES not in job


def test_stdin_as_a_file_beside_a_question(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", QUESTION, "speed", "-f", "-", "-q", input=DIFF))
    for request in keyed_env.chat_requests():
        assert f'<file name="stdin">\n{DIFF.rstrip()}\n</file>' in flat(request)


def test_stdin_cannot_be_both_question_and_file(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "-f", "-", input=DIFF)
    assert result.exit_code == 2 and "give the question as an argument" in result.stderr
    assert keyed_env.chat_requests() == []


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 3)"),
        ("big.txt", "x" * 3000, "over the 2 KiB limit"),
    ],
)
def test_files_that_cannot_be_attached_are_refused_before_anything_is_sent(
    keyed_env: LoopbackOpenRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: str | bytes,
    says: str,
) -> None:
    monkeypatch.setenv("HIVE_MAX_FILE_KB", "2")
    path = write(tmp_path, name, data)
    result = hive("consensus", QUESTION, "-f", path)
    assert result.exit_code == 2, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("hive: error:")]
    assert f"cannot attach {path}: " in line and says in line
    assert keyed_env.chat_requests() == [] and runs() == 0


def test_a_directory_needs_recursive_and_then_leaves_out_what_is_not_text(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    tree = tmp_path / "src"
    (tree / ".git").mkdir(parents=True)
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (tree / "a.py").write_text("print('a')\n")
    (tree / "pkg").mkdir()
    (tree / "pkg" / "b.py").write_text("print('b')\n")
    (tree / "logo.png").write_bytes(b"\x89PNG\x00\x00")

    refused = hive("consensus", QUESTION, "-f", str(tree))
    assert refused.exit_code == 2 and "give --recursive" in refused.stderr
    assert keyed_env.chat_requests() == []

    attached = hive("consensus", QUESTION, "speed", "-f", str(tree), "-r")
    ok(attached)
    text = flat(keyed_env.chat_requests()[0])
    for name in (tree / "a.py", tree / "pkg" / "b.py"):
        assert f'<file name="{name}">' in text
    assert "refs/heads" not in text and "logo.png" not in text
    note = f"hive: note: left out 1 file of {tree}: logo.png (a binary file"
    assert note in attached.stderr
    assert "hive: attached 2 files" in attached.stderr


def test_a_file_too_long_for_a_model_is_caught_before_the_call(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    small = dict(DEFAULT_MODELS["data"][0], id="tiny/model", context_length=1000)
    keyed_env.models_body = json.dumps({"data": [*DEFAULT_MODELS["data"], small]}).encode()
    path = write(tmp_path, "log.txt", "line of a long log\n" * 400)  # ~1,900 tokens

    result = hive("consensus", QUESTION, "speed", "-f", path, "--refine", "tiny/model")

    assert result.exit_code == 2, result.stderr
    assert "more than the 1,000-token context of tiny/model" in result.stderr
    assert keyed_env.chat_requests() == []


def test_the_estimate_counts_the_files(keyed_env: LoopbackOpenRouter, tmp_path: Path) -> None:
    def prompts(*extra: str) -> list[int]:
        result = hive("consensus", QUESTION, "balanced", "--estimate", "--json", *extra)
        ok(result)
        return [c["prompt_tokens"] for c in json.loads(result.stdout)["calls"]]

    path = write(tmp_path, "notes.txt", "word " * 4000)  # 20,000 characters: ~5,000 tokens
    bare, attached = prompts(), prompts("-f", path)
    assert len(bare) == len(attached)
    assert all(
        5_000 <= with_file - without <= 5_100
        for without, with_file in zip(bare, attached, strict=True)
    )


# --- instructions ---------------------------------------------------------------------------


def test_instructions_reach_every_stage_beside_its_own_job(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", QUESTION, "balanced", "--system", "answer in German", "--fixed", "-q"))
    for request in keyed_env.chat_requests():
        shared, _, job = request.body["messages"][0]["content"].partition(JOB)
        assert shared.startswith(INSTRUCTIONS)
        assert "<instructions>\nanswer in German\n</instructions>" in shared
        assert job.strip() and "answer in German" not in job


def test_a_profile_can_carry_instructions(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "german", "--from", "speed", "--system", "answer in German"))
    ok(hive("consensus", QUESTION, "german", "-q"))
    assert all("answer in German" in flat(r) for r in keyed_env.chat_requests())
    ok(hive("consensus", QUESTION, "german", "-q", "--system", "answer in French"))
    last = keyed_env.chat_requests()[-1]
    assert "answer in French" in flat(last) and "answer in German" not in flat(last)


# --- one-off panels -------------------------------------------------------------------------


def test_overrides_apply_exactly_to_the_calls_that_ran(keyed_env: LoopbackOpenRouter) -> None:
    ok(
        hive(
            "consensus", QUESTION, "balanced", "--fixed", "-q",
            "--generate", "openai/gpt-4o-mini", "--generate", "openai/gpt-4o-mini",
            "--refine", "openai/gpt-4.1-mini", "--temperature", "refine=0.25",
            "--max-tokens", "curate=777",
        )
    )  # fmt: skip
    bodies = [r.body for r in keyed_env.chat_requests()]
    models = [b["model"] for b in bodies]
    balanced = BUILTIN_PROFILES["balanced"]
    assert models[:2] == ["openai/gpt-4o-mini"] * 2
    assert models[2:] == [
        "openai/gpt-4.1-mini",
        *balanced.validate_.models,
        *balanced.curate.models,
    ]
    assert bodies[2]["temperature"] == 0.25 and bodies[-1]["max_tokens"] == 777
    assert bodies[0]["seed"] != bodies[1]["seed"]  # one model twice: two different drafts
    panel = last_run().panel
    assert panel["generate"]["models"] == ["openai/gpt-4o-mini"] * 2
    assert panel["refine"]["models"] == ["openai/gpt-4.1-mini"]


def test_a_bad_override_is_refused_like_a_profile_edit(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", QUESTION, "--temperature", "refine=9")
    assert result.exit_code == 2 and "temperature" in result.stderr
    assert keyed_env.chat_requests() == []


# --- follow-ups -----------------------------------------------------------------------------


def test_a_follow_up_sends_the_conversation_to_every_stage(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    patch = write(tmp_path, "change.patch", DIFF)
    ok(hive("consensus", QUESTION, "speed", "-f", patch, "-q"))
    first = last_run()
    sent = len(keyed_env.chat_requests())

    ok(hive("consensus", "--continue", "and on Windows?", "-q"))

    second = last_run()
    assert second.parent_id == first.id and second.profile == "speed"
    follow = keyed_env.chat_requests()[sent:]
    assert len(follow) == 4
    for request in follow:
        messages = request.body["messages"]
        roles = [m["role"] for m in messages]
        assert roles == ["system", "user", "assistant", "user"]
        assert DIFF.rstrip() in messages[0]["content"] and FOLLOW_UP in messages[0]["content"]
        assert messages[1]["content"] == QUESTION
        assert messages[2]["content"] == first.answer
        assert "and on Windows?" in messages[-1]["content"]

    ok(hive("consensus", "--continue-run", str(first.id), "and on macOS?", "-q"))
    assert last_run().parent_id == first.id
    ok(hive("consensus", "-c", "and on BSD?", "-q"))  # follows the newest: a chain of three
    chain = keyed_env.chat_requests()[-1].body["messages"]
    assert [m["role"] for m in chain].count("assistant") == 2


def test_json_names_the_run_followed_and_every_file_sent(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    patch = write(tmp_path, "change.patch", DIFF)
    notes = write(tmp_path, "notes.txt", "né\n")
    first = json.loads(ok(hive("consensus", QUESTION, "speed", "-f", patch, "--json")).stdout)
    assert first["parent_id"] is None
    assert first["files"] == [{"name": patch, "bytes": len(DIFF.encode())}]

    second = json.loads(
        ok(hive("consensus", "-c", "and this?", "-f", notes, "--json")).stdout
    )  # the conversation's file, then this run's; bytes, not characters
    assert second["parent_id"] == first["run_id"]
    assert second["files"] == [
        {"name": patch, "bytes": len(DIFF.encode())},
        {"name": notes, "bytes": 4},
    ]


def test_a_real_follow_up_of_a_simulated_run_says_whose_answer_it_sends(
    keyed_env: LoopbackOpenRouter,
) -> None:
    simulated = json.loads(ok(hive("consensus", QUESTION, "speed", "--simulate", "--json")).stdout)
    result = ok(hive("consensus", "-c", "and then?", "--plain"))
    note = f"note: run #{simulated['run_id']} was simulated: the simulator's answer is sent"
    assert note in result.stderr
    sent = keyed_env.chat_requests()[0].body["messages"]
    assert sent[2] == {"role": "assistant", "content": simulated["answer"]}  # as it said
    estimated = ok(hive("consensus", "--continue-run", str(simulated["run_id"]), "x", "--estimate"))
    assert "was simulated" not in estimated.stderr  # an estimate sends nothing

    real = json.loads(ok(hive("consensus", QUESTION, "speed", "--json")).stdout)
    assert "was simulated" not in ok(hive("consensus", "-c", "and then?", "--plain")).stderr
    assert real["simulated"] is False


def test_nothing_to_follow_up_is_refused(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "--continue", "and then?")
    assert result.exit_code == 2 and "no earlier run" in result.stderr
    ok(hive("consensus", QUESTION, "speed", "-q", "--no-log"))
    result = hive("consensus", "--continue", "and then?")
    assert result.exit_code == 2 and "--no-log" in result.stderr


# --- rerun and --no-log ---------------------------------------------------------------------


def test_rerun_asks_again_with_its_files_instructions_and_panel(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    patch = write(tmp_path, "change.patch", DIFF)
    ok(hive("consensus", QUESTION, "speed", "-f", patch, "--system", "be brief", "-q",
            "--curate", "openai/gpt-4o-mini"))  # fmt: skip
    first = last_run()
    before = keyed_env.chat_requests()
    patch_path = Path(patch)
    patch_path.unlink()  # the rerun uses the recorded file, not the disk

    ok(hive("history", "rerun", str(first.id), "-q"))

    again = keyed_env.chat_requests()[len(before) :]
    assert [r.body["model"] for r in again] == [r.body["model"] for r in before]
    for old, new in zip(before, again, strict=True):
        assert old.body["messages"] == new.body["messages"]
    assert last_run().id != first.id


def test_no_log_keeps_no_text_but_keeps_the_costs(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    secret_q = "what about the merger with ZYXWV Corp?"
    patch = write(tmp_path, "secret.txt", "QWERTY-CONFIDENTIAL-CONTENT")
    result = hive("consensus", secret_q, "speed", "-f", patch, "--no-log", "-q")
    ok(result)
    answer = result.stdout.strip()
    run = last_run()
    assert run.logged is False and run.question == ""
    db = db_path(resolve_paths())
    raw = b"".join(p.read_bytes() for p in db.parent.glob("history.db*"))
    for text in ("ZYXWV", "QWERTY-CONFIDENTIAL", answer[:40]):
        assert text.encode() not in raw, text
    with sqlite3.connect(db) as conn:
        costs = conn.execute("SELECT cost FROM calls WHERE run_id = ?", (run.id,)).fetchall()
    assert len(costs) == 4 and all(cost is not None for (cost,) in costs)


def runs() -> int:
    from hive.store.history import History

    history = History.open(resolve_paths())
    try:
        return len(history.runs(limit=None))
    finally:
        history.close()


# --- edges found by trying it ---------------------------------------------------------------


def test_an_endless_or_empty_input_is_refused_without_reading_it_all(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_MAX_FILE_KB", "4")
    endless = hive("consensus", QUESTION, "-f", "/dev/zero")
    assert endless.exit_code == 2 and "over the 4 KiB limit" in endless.stderr
    piped = hive("consensus", QUESTION, "-f", "-", input="x" * 10_000)
    assert piped.exit_code == 2 and "cannot attach stdin (-f -): over the 4 KiB" in piped.stderr
    empty = hive("consensus", QUESTION, "-f", "-", input="")
    assert empty.exit_code == 2 and "cannot attach stdin (-f -): it is empty" in empty.stderr
    assert keyed_env.chat_requests() == []


def test_instructions_in_a_conversation(keyed_env: LoopbackOpenRouter) -> None:
    def sent() -> str:
        return str(keyed_env.chat_requests()[-1].body["messages"][0]["content"])

    ok(hive("consensus", "q1", "speed", "--system", "answer in German", "-q"))
    ok(hive("consensus", "-c", "q2", "-q"))
    assert "answer in German" in sent()  # kept along the conversation
    ok(hive("consensus", "-c", "q3", "--system", "", "-q"))
    assert "<instructions>" not in sent()  # cleared for this turn
    ok(hive("consensus", "-c", "q4", "-q"))
    assert "<instructions>" not in sent()  # and for the turns after it
    assert last_run().panel["system"] == ""


def test_continue_and_continue_run_together_are_refused(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", "q1", "speed", "-q"))
    result = hive("consensus", "-c", "--continue-run", "1", "q2")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_a_bad_override_names_the_option_not_the_profile(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", QUESTION, "--temperature", "refine=9")
    [line] = [x for x in result.stderr.splitlines() if x.startswith("hive: error:")]
    assert line.startswith("hive: error: this run's panel options: refine.temperature")
    assert "profile 'balanced'" not in line


def test_no_log_keeps_no_instructions_even_a_profiles(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "secretive", "--from", "speed", "--system", "PROFSYS-XYZZY"))
    ok(hive("consensus", QUESTION, "secretive", "--no-log", "-q"))
    db = db_path(resolve_paths())
    raw = b"".join(p.read_bytes() for p in db.parent.glob("history.db*"))
    assert b"PROFSYS-XYZZY" not in raw


def test_the_simulator_finds_a_stage_job_where_context_puts_it() -> None:
    from hive.openrouter import simulated_replies

    assert simulated_replies._JOB == JOB


def test_recursive_never_follows_a_symbolic_link_or_loops(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text("aws_secret_access_key=AKIASECRET\n")
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "main.py").write_text("print(1)\n")
    (tree / "config.txt").symlink_to(secret)
    (tree / "loop").symlink_to(tree / "loop")

    result = hive("consensus", QUESTION, "speed", "-f", str(tree), "-r")

    ok(result)
    assert all("AKIASECRET" not in flat(r) for r in keyed_env.chat_requests())
    assert (
        "config.txt (a symbolic link)" in result.stderr
        and "loop (a symbolic link)" in result.stderr
    )


def test_overlapping_folders_and_a_file_named_twice_attach_each_file_once(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    (tmp_path / "proj" / "lib").mkdir(parents=True)
    (tmp_path / "proj" / "a.py").write_text("a = 1\n")
    (tmp_path / "proj" / "lib" / "b.py").write_text("b = 2\n")
    proj, lib = tmp_path / "proj", tmp_path / "proj" / "lib"
    ok(hive("consensus", QUESTION, "speed", "-f", str(proj), "-f", str(lib), "-r", "-q"))
    assert flat(keyed_env.chat_requests()[0]).count("b = 2") == 1


def test_a_file_attached_again_replaces_its_earlier_version(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    app_py = write(tmp_path, "app.py", "VERSION-ONE\n")
    ok(hive("consensus", QUESTION, "speed", "-f", app_py, "-q"))
    write(tmp_path, "app.py", "VERSION-TWO\n")
    ok(hive("consensus", "-c", "and now?", "-f", app_py, "-q"))
    text = flat(keyed_env.chat_requests()[-1])
    assert "VERSION-TWO" in text and "VERSION-ONE" not in text


def test_a_fallback_too_small_for_the_prompt_is_warned_about(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    small = dict(DEFAULT_MODELS["data"][0], id="tiny/model", context_length=1000)
    keyed_env.models_body = json.dumps({"data": [*DEFAULT_MODELS["data"], small]}).encode()
    ok(hive("profiles", "create", "fb", "--from", "speed", "--fallback", "curate=tiny/model"))
    path = write(tmp_path, "log.txt", "line of a long log\n" * 400)  # ~1,900 tokens
    result = hive("consensus", QUESTION, "fb", "-f", path, "--estimate")
    ok(result)
    assert "the 1,000-token context of its fallback tiny/model" in result.stderr
