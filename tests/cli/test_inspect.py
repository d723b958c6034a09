"""``ls`` and ``show``: summaries newest first, live statuses, and the state as of any event."""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from datetime import UTC, datetime

import pytest

from agentrun.cli.views import task_row, to_json
from agentrun.core.events import RunStarted, RunStopped
from agentrun.core.state import fold
from tests.cli.sample_tasks import (
    call,
    create,
    finished_task,
    first_run_started,
    interrupted_task,
    ledger_env,  # noqa: F401
    needs_attention_task,
    new_agent,
    run,
    store_at,
    turn,
)

pytestmark = pytest.mark.usefixtures("ledger_env")


def normalized(value):
    """A value as it comes back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, default=str))


def test_ls_lists_newest_first_with_status_usage_and_goal(cli, agentrun_home, tmp_path):
    first = finished_task(agentrun_home, tmp_path, task_id="zz-first")
    second = needs_attention_task(agentrun_home, tmp_path, task_id="aa-second")
    rows = json.loads(cli("ls", "--json").out)
    assert [r["task_id"] for r in rows] == [second, first]  # by creation time, not by id
    done = rows[1]
    assert done["status"] == "succeeded" and done["steps"] == 9
    assert done["tokens"] == done["input_tokens"] + done["output_tokens"] > 0
    assert done["goal"] == "do the thing" and done["age_seconds"] >= 0
    assert done["created_at"].endswith("+00:00")
    assert rows[0]["status"] == "needs_attention"


def test_ls_shows_a_dead_run_as_interrupted_with_pid_host_and_since(cli, agentrun_home, tmp_path):
    task_id = interrupted_task(agentrun_home, tmp_path)
    (row,) = json.loads(cli("ls", "--json").out)
    assert (row["task_id"], row["status"], row["claimed"]) == (task_id, "interrupted", False)
    assert row["run"] == {
        "pid": 4242,
        "host": "build-1",
        "since": "2026-11-26T08:15:00+00:00",
        "attempt": 1,
    }


def test_ls_filters_by_status_and_limits(cli, agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path, task_id="done-1")
    finished_task(agentrun_home, tmp_path, task_id="done-2")
    needs_attention_task(agentrun_home, tmp_path)
    waiting = json.loads(cli("ls", "--status", "needs_attention", "--json").out)
    assert [r["task_id"] for r in waiting] == ["waiting"]
    assert len(json.loads(cli("ls", "--status", "succeeded", "--limit", "1", "--json").out)) == 1
    assert cli("ls", "--status", "bogus").code == 2


def test_ls_human_table_names_columns_and_statuses(cli, agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path)
    needs_attention_task(agentrun_home, tmp_path)
    result = cli("ls")
    assert result.code == 0
    header, *lines = result.out.splitlines()
    assert header.split() == ["id", "status", "steps", "tokens", "cost", "age", "goal"]
    assert any("needs attention" in line for line in lines)
    assert any(line.startswith("sample") and "succeeded" in line for line in lines)
    assert "\x1b[" not in result.out  # NO_COLOR and not a terminal: no escape codes


def test_ls_rebuilds_a_missing_summary_in_memory_without_writing_it(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    summary = agentrun_home / "tasks" / task_id / "summary"
    os.unlink(summary)
    (row,) = json.loads(cli("ls", "--json").out)
    assert row["status"] == "succeeded" and row["steps"] == 9
    assert not summary.exists()


def test_show_at_every_event_equals_the_fold_of_that_many_events(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    events = list(store_at(agentrun_home).events(task_id))
    for n in range(1, len(events) + 1):
        shown = json.loads(cli("show", task_id, "--at", str(n), "--json").out)
        expected = normalized(fold(events[:n]).to_dict())
        assert {k: shown[k] for k in expected} == expected, f"event {n}"
        assert shown["at_seq"] == n


def test_show_now_has_the_conversation_budgets_and_changed_files(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path, extra="[budget]\nmax_steps = 50\n")
    shown = json.loads(cli("show", task_id, "--json").out)
    assert shown["status"] == "succeeded" and shown["at_seq"] is None
    assert shown["budget"]["max_steps"] == {"limit": 50, "used": 9}
    assert [m["role"] for m in shown["messages"]][:2] == ["assistant", "tool"]
    assert shown["pending_calls"] == [] and shown["in_doubt_calls"] == []
    (changed,) = shown["changed_files"]
    assert changed["path"] == "out.txt" and changed["before"] is None and changed["after"]


def test_show_leaves_out_a_file_the_task_changed_back_as_diff_does(cli, agentrun_home, tmp_path):
    turns = [
        turn(call("write_file", path="f1.txt", content="xyz")),
        turn(call("write_file", path="f1.txt", content="abc")),
        turn(call("write_file", path="new.txt", content="n")),
        turn(content="done"),
    ]
    agent = new_agent(tmp_path, "back", turns)
    (agent.workspace / "f1.txt").write_text("abc")
    task_id = create(agentrun_home, agent, task_id="back")
    assert run(agentrun_home, task_id).status == "succeeded"
    shown = json.loads(cli("show", task_id, "--json").out)
    assert [f["path"] for f in shown["changed_files"]] == ["new.txt"]
    assert sorted(shown["files"]) == ["f1.txt", "new.txt"]  # the fold keeps what it saw
    assert [f["path"] for f in json.loads(cli("diff", task_id, "--json").out)["files"]] == [
        "new.txt"
    ]
    changed = [line for line in cli("show", task_id).out.splitlines() if "changed" in line]
    assert len(changed) == 1 and changed[0].startswith("changed new.txt: absent → ")


def test_show_names_the_pending_call_of_a_task_waiting_for_a_person(cli, agentrun_home, tmp_path):
    task_id = needs_attention_task(agentrun_home, tmp_path)
    shown = json.loads(cli("show", task_id, "--json").out)
    (pending,) = shown["pending_calls"]
    assert pending["tool"] == "charge" and pending["status"] == "requested"
    human = cli("show", task_id).out
    assert "needs attention" in human and f"pending {pending['call_id']}" in human


def test_show_after_a_person_settled_the_stop_no_longer_repeats_its_instructions(
    cli, agentrun_home, tmp_path
):
    task_id = needs_attention_task(agentrun_home, tmp_path)
    call_id = json.loads(cli("show", task_id, "--json").out)["pending_calls"][0]["call_id"]
    assert "agentrun resolve" in cli("show", task_id).out
    assert cli("resolve", task_id, call_id, "--deny").code == 0
    human = cli("show", task_id).out
    assert human.splitlines()[0].split() == [task_id, "paused"]
    assert "agentrun resolve" not in human and "settled since" in human


def test_show_in_the_middle_of_a_call_lists_it_as_in_doubt(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    events = list(store_at(agentrun_home).events(task_id))
    intent = next(e for e in events if e.kind == "tool_intended" and e.tool == "charge")
    shown = json.loads(cli("show", task_id, "--at", str(intent.seq), "--json").out)
    assert [c["call_id"] for c in shown["in_doubt_calls"]] == [intent.call_id]
    assert shown["status"] == "running"  # as the log said then; no live claim probe for the past


def test_show_human_output_names_status_goal_and_usage(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    out = cli("show", task_id).out
    assert out.splitlines()[0].split() == [task_id, "succeeded"]
    assert "goal     do the thing" in out
    assert "9 steps" in out and "changed out.txt" in out
    assert "charge(amount=5)" in out


def test_show_of_a_queued_task_says_there_is_no_conversation_yet(cli, tmp_path):
    script = tmp_path / "script.json"
    script.write_text('{"turns": [{"content": "hi"}]}')
    task_id = cli("submit", "--model", f"scripted:{script}", "a goal").out.strip()
    out = cli("show", task_id).out.splitlines()
    assert out[0].split() == [task_id, "queued"]
    assert out[-1] == "conversation: none yet (no model turn)"


def test_show_usage_says_one_run_and_nine_steps(cli, agentrun_home, tmp_path):
    task_id = finished_task(agentrun_home, tmp_path)
    (usage,) = [x for x in cli("show", task_id).out.splitlines() if x.startswith("usage")]
    assert usage.startswith("usage    9 steps · ") and usage.endswith(" active · 1 run")


PRICES = "[budget.prices]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n"


def shown_budgets(cli, home, tmp_path, budget: str) -> dict[str, str]:
    """``show``'s budget line of a task finished under ``budget``, as {name: "used/limit"}."""
    task_id = finished_task(home, tmp_path, extra=f"[budget]\n{budget}{PRICES}")
    (line,) = [x for x in cli("show", task_id).out.splitlines() if x.startswith("budget")]
    return dict(part.split(" ", 1) for part in line.removeprefix("budget").strip().split(" · "))


def test_show_gives_the_time_budget_used_as_active_seconds(cli, agentrun_home, tmp_path):
    task_id = create(agentrun_home, new_agent(tmp_path, "timed"), task_id="timed")
    writer = store_at(agentrun_home).open_writer(task_id)
    started = first_run_started(writer.next_seq)
    stopped = RunStopped(
        seq=writer.next_seq + 1,
        ts="2026-11-26T08:15:00.019400+00:00",
        reason="time_limit",
        detail="",
        exit_code=4,
    )
    writer.append([started, stopped], sync=True)
    writer.close()
    shown = json.loads(cli("show", task_id, "--json").out)
    assert shown["active_seconds"] == 0.0194
    assert shown["budget"]["max_time"]["used"] == 0.0194


def test_show_human_output_gives_each_budget_in_its_own_unit(cli, agentrun_home, tmp_path):
    budget = 'max_steps = 1200\nmax_time = "2h"\nmax_cost_usd = 5\n'
    uses = shown_budgets(cli, agentrun_home, tmp_path, budget)
    assert uses["max_steps"] == "9/1,200"
    assert re.fullmatch(r"(\d+ms|\d+(\.\d)?s)/2h00m", uses["max_time"])
    assert uses["max_cost_usd"].startswith("$0.") and uses["max_cost_usd"].endswith("/$5.00")
    assert uses["max_attempts"] == "0/5 runs crashed"  # not runs: the usage line counts those


def test_show_says_why_the_outcome_check_failed(cli, agentrun_home, tmp_path):
    check = '[outcome]\ncheck = "echo no report.txt >&2; test -f report.txt"\n'
    task_id = create(agentrun_home, new_agent(tmp_path, "checked", extra=check), task_id="c")
    assert run(agentrun_home, task_id).status == "failed"
    (line,) = [x for x in cli("show", task_id).out.splitlines() if x.startswith("check")]
    assert line.split(None, 1)[1] == (
        "`echo no report.txt >&2; test -f report.txt` failed (exit 1): no report.txt"
    )


def test_show_counts_the_run_of_an_interrupted_task_among_the_crashed_ones(
    cli, agentrun_home, tmp_path
):
    # The next resume counts it too: max_attempts fails the task after that many crashes.
    task_id = interrupted_task(agentrun_home, tmp_path)
    (line,) = [x for x in cli("show", task_id).out.splitlines() if x.startswith("budget")]
    assert "1/5 runs crashed" in line
    shown = json.loads(cli("show", task_id, "--json").out)
    assert shown["budget"]["max_attempts"] == {"limit": 5, "used": 1}


def test_show_gives_a_cost_cap_under_a_cent_as_it_was_set(cli, agentrun_home, tmp_path):
    uses = shown_budgets(cli, agentrun_home, tmp_path, "max_cost_usd = 0.001\n")
    assert uses["max_cost_usd"].endswith("/$0.001")


def test_ls_shows_what_the_log_holds_after_a_run_died_without_a_summary(
    cli, agentrun_home, tmp_path
):
    task_id = finished_task(agentrun_home, tmp_path)
    summary = agentrun_home / "tasks" / task_id / "summary"
    before = summary.read_bytes()
    (row,) = json.loads(cli("ls", "--json").out)
    writer = store_at(agentrun_home).open_writer(task_id)
    writer.append(
        [
            RunStarted(
                seq=writer.next_seq, ts=row["updated_at"], pid=1, host="h", version="0", attempt=9
            )
        ],
        sync=True,
    )
    writer.abandon()  # killed: no summary written
    (after,) = json.loads(cli("ls", "--json").out)
    assert after["last_seq"] == row["last_seq"] + 1
    assert after["status"] == "interrupted" and after["run"]["attempt"] == 9
    assert summary.read_bytes() == before  # rule 17: ls folded in memory, wrote nothing


def test_an_ls_row_as_json_is_every_field_of_the_row_in_order():
    row = task_row(
        {
            "task_id": "t",
            "status": "running",
            "created_at": "2026-01-01T00:00:00+00:00",
            "run": {"pid": 1},
            "parent": {"task_id": "p", "seq": 3},
        },
        is_claimed=True,
        now=datetime(2026, 1, 2, tzinfo=UTC),
    )
    as_json = to_json(row)
    assert list(as_json.items()) == [(f.name, getattr(row, f.name)) for f in fields(row)]


@pytest.mark.parametrize("command", [("ls",), ("log", "--grep", "x"), ("stats",)], ids=" ".join)
def test_entries_under_tasks_that_are_no_tasks_are_ignored_alike(
    cli, agentrun_home, tmp_path, command
):
    finished_task(agentrun_home, tmp_path, task_id="real")
    tasks = agentrun_home / "tasks"
    (tasks / "bad name").mkdir()
    (tasks / "strayfile").write_text("x")
    (tasks / "stray file.txt").write_text("x")
    result = cli(*command)
    assert result.code == 0, result
    assert result.err.splitlines() == [
        f"warning: '{tasks / 'bad name'}' is not a task directory (its name is not a task id); "
        "ignored"
    ]
