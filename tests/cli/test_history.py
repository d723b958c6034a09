"""``log``, ``diff`` and ``export`` on tasks run by a scripted agent; JSON parsed, not matched."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from agentrun.core.events import to_record
from tests.cli.sample_tasks import (
    MIXED_TURNS,
    call,
    finished_task,
    ledger_env,  # noqa: F401
    script,
    store_at,
    turn,
)

pytestmark = pytest.mark.usefixtures("ledger_env")


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def records(home, task_id) -> list[dict]:
    return json.loads(json.dumps([to_record(e) for e in store_at(home).events(task_id)]))


# -- log ---------------------------------------------------------------------------------------


def test_log_json_is_every_event_as_its_record(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    result = cli("log", task_id, "--json")
    assert result.code == 0
    assert lines(result.out) == records(agentrun_home, task_id)


def test_log_filters_by_kind_range_and_grep(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    completed = lines(cli("log", task_id, "--kind", "tool_completed", "--json").out)
    assert {r["kind"] for r in completed} == {"tool_completed"} and len(completed) == 11
    both = lines(cli("log", task_id, "-k", "task_created", "-k", "task_finished", "--json").out)
    assert [r["kind"] for r in both] == ["task_created", "task_finished"]
    window = lines(cli("log", task_id, "--from", "5", "--to", "9", "--json").out)
    assert [r["seq"] for r in window] == [5, 6, 7, 8, 9]
    charged = lines(cli("log", task_id, "--grep", "CHARGED", "--json").out)
    assert [r["output"] for r in charged] == ["charged 5", "charged 7"]


def test_log_human_lines_name_tools_arguments_results_and_tokens(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    out = cli("log", task_id).out.splitlines()
    assert len(out) == len(records(agentrun_home, task_id))
    first_turn = next(line for line in out if "model_responded" in line)
    assert '"start" → lookup(key="a")' in first_turn and "tokens" in first_turn
    charge = next(line for line in out if "tool_completed" in line and "charged 5" in line)
    assert charge.split()[0] == "11" and "charge call_2_0" in charge
    assert "\x1b[" not in "".join(out)  # not a terminal: no colour codes
    # a filtered view still names the tool of each result
    only = cli("log", task_id, "--kind", "tool_completed").out.splitlines()
    assert any("charge call_2_0" in line for line in only)


def test_a_log_line_reads_the_same_whatever_the_range(cli, agentrun_home, tmp_path):
    # A result's line names its tool even when the turn that asked for it is before --from.
    task_id = finished_task(agentrun_home, tmp_path)
    whole = cli("log", task_id).out.splitlines()
    for seq, line in enumerate(whole, start=1):
        assert cli("log", task_id, "--from", seq, "--to", seq).out.splitlines() == [line]
    results = [seq for seq, line in enumerate(whole, start=1) if "tool_completed" in line]
    for seq in results:
        followed = cli("log", task_id, "--from", seq, "--to", seq, "--follow")
        assert followed.out.splitlines() == [whole[seq - 1]]


def test_log_says_error_once_for_a_failed_tool(cli, agentrun_home, tmp_path):
    turns = [turn(call("read_file", path="missing.txt")), turn(content="gave up")]
    task_id = finished_task(agentrun_home, tmp_path, turns=turns)
    (failed,) = lines(cli("log", task_id, "--kind", "tool_completed", "--json").out)
    assert failed["is_error"] and failed["output"].startswith("error: ")
    (line,) = cli("log", task_id, "--kind", "tool_completed").out.splitlines()
    assert line.count("error") == 1
    assert f'read_file call_0_0 → error: "{failed["output"].removeprefix("error: ")[:40]}' in line


def test_log_full_prints_every_event_whole(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    out = cli("log", task_id, "--full", "--from", "1", "--to", "1").out
    assert '"kind": "task_created"' in out and '"manifest"' in out


def test_log_grep_without_a_task_searches_every_task(cli, agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path, task_id="one")
    turns = [turn(call("charge", amount=99)), turn(content="done")]
    finished_task(agentrun_home, tmp_path, task_id="two", turns=turns)
    found = lines(cli("log", "--grep", "charged 99", "--json").out)
    assert [(r["task_id"], r["kind"]) for r in found] == [("two", "tool_completed")]
    human = cli("log", "--grep", "charged").out.splitlines()
    assert {line.split()[0] for line in human} == {"one", "two"}
    assert cli("log").code == 2  # neither a task nor --grep


def test_log_output_with_a_large_blob_reads_it_back_with_full(cli, agentrun_home, tmp_path):
    big = "x" * (300 * 1024)
    turns = [
        turn(call("write_file", path="big.txt", content=big)),
        turn(call("read_file", path="big.txt")),
        turn(content="ok"),
    ]
    task_id = finished_task(agentrun_home, tmp_path, turns=turns)
    read = [r for r in lines(cli("log", task_id, "--json").out) if r.get("output_blob")]
    assert read and len(read[0]["output"]) < len(big)
    full = cli("log", task_id, "--full", "--from", str(read[0]["seq"]), "--to", str(read[0]["seq"]))
    assert f'"output": "{big}"' in full.out  # whole, and not wrapped


@pytest.mark.parametrize("command", [("log", "--full"), ("export", "--inline-blobs")])
def test_a_blob_whose_bytes_changed_or_that_is_gone_is_refused_naming_it(
    cli, agentrun_home, tmp_path, command
):
    big = "".join(f"line {n:06d}\n" for n in range(30_000))  # 360 KiB: over the record's share
    turns = [turn(call("read_file", path="big.txt")), turn(content="ok")]
    workspace = tmp_path / "agent-sample" / "workspace"  # the workspace finished_task's agent has
    workspace.mkdir(parents=True)
    (workspace / "big.txt").write_text(big)
    task_id = finished_task(agentrun_home, tmp_path, turns=turns)
    (blob,) = (agentrun_home / "tasks" / task_id / "blobs").iterdir()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.write_bytes(bytes(data))
    altered = cli(command[0], task_id, *command[1:])
    assert altered.code == 1, altered
    assert altered.err.splitlines() == [
        f"error: blob file {blob} does not match its sha256 (its bytes changed); "
        f"run `agentrun verify {task_id}`"
    ]
    blob.unlink()
    missing = cli(command[0], task_id, *command[1:])
    assert missing.code == 1
    assert missing.err == f"error: blob file {blob} is missing; run `agentrun verify {task_id}`\n"


# -- diff --------------------------------------------------------------------------------------


def test_diff_between_two_events_names_calls_files_usage_and_status(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    d = json.loads(cli("diff", task_id, "--from", "5", "--to", "11", "--json").out)
    assert (d["from_seq"], d["to_seq"], d["events"]) == (5, 11, 6)
    assert [(c["tool"], c["outcome"], c["output"]) for c in d["calls"]] == [
        ("write_file", "completed", "wrote 4 bytes to out.txt"),
        ("charge", "completed", "charged 5"),
    ]
    assert [(f["path"], f["change"], f["before"]) for f in d["files"]] == [
        ("out.txt", "added", None)
    ]
    assert d["usage"]["steps"] == 2 and d["usage"]["tool_calls"] == 2
    assert [m["role"] for m in d["messages_added"]] == ["assistant", "tool"] * 2
    assert d["status_before"] == d["status_after"] == "running"


def test_diff_of_the_whole_task_ends_in_its_outcome(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    d = json.loads(cli("diff", task_id, "--json").out)
    assert (d["from_seq"], d["status_before"], d["status_after"]) == (0, "queued", "succeeded")
    assert d["outcome"] == "succeeded" and d["answer"] == "all done"
    assert d["usage"]["steps"] == 9
    human = cli("diff", task_id, "--from", "8", "--to", "11").out
    assert human.splitlines()[:2] == [f"--- {task_id} at event 8", f"+++ {task_id} at event 11"]
    assert "+  assistant → charge(amount=5)" in human


def test_diff_human_usage_says_one_step_and_one_run(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    human = cli("diff", task_id, "--from", "8", "--to", "10").out.splitlines()
    assert human[2].startswith("2 events: ")
    (usage,) = [x for x in human if x.startswith("usage")]
    assert usage.startswith("usage   +1 step · +1 tool call · ")
    whole = cli("diff", task_id).out.splitlines()
    assert next(x for x in whole if x.startswith("usage")).endswith(" active · +1 run")


@pytest.mark.parametrize(("option", "first"), [("--from", 0), ("--to", 1)])
def test_diff_accepts_exactly_the_range_its_refusal_names(
    cli, agentrun_home, tmp_path, option, first
):
    # docs/cli.md: --from 0 is the state before the first event; --to names an event.
    task_id = finished_task(agentrun_home, tmp_path)
    last = store_at(agentrun_home).summary(task_id)["last_seq"]
    refused = cli("diff", task_id, option, str(last + 1))
    assert refused.code == 2 and refused.err.count("\n") == 1
    named = re.search(rf"choose {option} from (-?\d+)(?: \([^)]*\))? to (\d+)$", refused.err)
    assert named is not None, refused.err
    assert tuple(map(int, named.groups())) == (first, last)
    for value in (first, last):
        assert cli("diff", task_id, option, str(value), "--json").code == 0, (option, value)
    for value in (first - 1, last + 1):
        outside = cli("diff", task_id, option, str(value))
        assert outside.code == 2 and outside.err.startswith(f"error: {option} {value}: "), outside


def test_diff_to_0_is_refused_saying_to_names_an_event(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    last = store_at(agentrun_home).summary(task_id)["last_seq"]
    result = cli("diff", task_id, "--to", "0")
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"error: --to 0: task {task_id} has {last} events; choose --to from 1 to {last}\n"
    )


def fork_with_new_script(cli, agentrun_home, tmp_path, task_id, at, changed_turns):
    other = script(tmp_path / "other.json", changed_turns)
    forked = cli("fork", task_id, "--at", str(at), "--model", f"scripted:{other}", "--id", "kid")
    assert forked.code == 0, forked.err
    assert forked.out.splitlines()[0] == "kid"
    run = cli("resume", "kid", "--quiet")
    assert run.code == 0, run.err
    return "kid"


def test_diff_of_a_fork_and_its_parent_names_the_fork_point_first(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    # The fork starts after step 3 (event 11); its script differs from turn 4 on.
    changed = [*MIXED_TURNS[:3], turn(call("charge", amount=1000)), turn(content="other end")]
    child = fork_with_new_script(cli, agentrun_home, tmp_path, parent, 11, changed)
    d = json.loads(cli("diff", parent, child, "--json").out)
    assert d["fork"] == {"parent": parent, "child": child, "seq": 11, "step": 4}
    assert d["common_steps"] == 3 and d["at_fork_point"] is True
    first = d["first_divergence"]
    assert first["number"] == 4 and first["differences"] == ["tool_calls", "results"]
    assert first["a"]["seq"] == 12 and first["b"]["seq"] == 3
    assert first["b"]["calls"][0]["arguments"] == {"amount": 1000}
    assert [p["number"] for p in d["after"]] == list(range(4, 10))
    human = cli("diff", parent, child).out
    assert "first divergence at step 4 — the fork point" in human
    assert f"B is a fork of {parent} at event 11" in human


def test_diff_with_a_squashed_parent_says_its_steps_were_squashed_not_inherited(
    cli, agentrun_home, tmp_path
):
    parent = finished_task(agentrun_home, tmp_path)
    changed = [*MIXED_TURNS[:3], turn(call("charge", amount=1000)), turn(content="other end")]
    child = fork_with_new_script(cli, agentrun_home, tmp_path, parent, 11, changed)
    squashed = cli("prune", "--squash", "--keep", "1", "--yes")  # the parent, not the newer child
    assert squashed.code == 0 and parent in squashed.out and child not in squashed.out
    human = cli("diff", parent, child).out.splitlines()
    parent_steps = [line for line in human if line.startswith("- A ")]
    assert parent_steps and all(line.startswith("- A squashed: ") for line in parent_steps)


def test_diff_of_two_identical_runs_finds_no_divergence(cli, agentrun_home, tmp_path):
    one = finished_task(agentrun_home, tmp_path, task_id="one")
    two = finished_task(agentrun_home, tmp_path, task_id="two")
    d = json.loads(cli("diff", one, two, "--json").out)
    assert d["first_divergence"] is None and d["common_steps"] == 9 and d["fork"] is None
    assert "no divergence" in cli("diff", one, two).out


def test_diff_of_two_runs_refuses_a_range(cli, agentrun_home, tmp_path):
    one = finished_task(agentrun_home, tmp_path, task_id="one")
    result = cli("diff", one, one, "--from", "2")
    assert result.code == 2 and result.err.startswith("error: ")


# -- export ------------------------------------------------------------------------------------


def test_export_is_the_whole_log_with_blobs_named_or_inlined(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    named = lines(cli("export", task_id).out)
    assert named == records(agentrun_home, task_id)
    inlined = lines(cli("export", task_id, "--inline-blobs").out)
    changes = [f for r in inlined if r["kind"] == "tool_completed" for f in r["files"]]
    assert changes and all("blob_base64" in f for f in changes)
    for change in changes:
        data = base64.b64decode(change["blob_base64"])
        assert hashlib.sha256(data).hexdigest() == change["blob"] == change["after"]
    assert data == b"two\n"
