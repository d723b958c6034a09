"""``fork`` and ``stats`` on the command line: ids, JSON documents, refusals, SLO figures."""

from __future__ import annotations

import json

import pytest

from tests.cli.sample_tasks import (
    finished_task,
    in_doubt_task,
    interrupted_task,
    ledger_env,  # noqa: F401
    needs_attention_task,
    store_at,
)

pytestmark = pytest.mark.usefixtures("ledger_env")


def test_fork_prints_the_new_id_first_and_resume_runs_it(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    forked = cli("fork", parent, "--at", "11")
    assert forked.code == 0
    new_id = forked.out.splitlines()[0]
    assert f"forked {parent} at event 11 (after step 3) as {new_id}" in forked.err
    assert "out.txt" in forked.err  # the shared workspace holds the parent's later changes
    assert cli("resume", new_id, "--quiet").code == 0
    shown = json.loads(cli("show", new_id, "--json").out)
    assert shown["status"] == "succeeded" and shown["steps"] == 9
    assert shown["parent"] == {"task_id": parent, "seq": 11, "steps": 3}


def test_fork_json_is_one_document(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    doc = json.loads(cli("fork", parent, "--at", "14", "--drop-pending", "--json").out)
    assert doc["parent"] == {"task_id": parent, "seq": 11, "steps": 3}
    assert [c["call_id"] for c in doc["dropped_calls"]] == ["call_3_1"]
    assert doc["messages"] == 6 and doc["agent_changed"] is False


def test_fork_refuses_unsettled_calls_with_exit_2_naming_them(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    result = cli("fork", parent, "--at", "14")
    assert result.code == 2 and result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith("error: ") and "call_3_1 (store_value, not run yet)" in line
    assert len(store_at(agentrun_home).task_ids()) == 1


def test_fork_with_run_runs_it_at_once_and_exits_like_start(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    result = cli("fork", parent, "--at", "11", "--run", "--max-steps", "5", "--quiet")
    assert result.code == 4  # paused by the new budget: 3 inherited steps + 2 of its own
    new_id = result.out.splitlines()[0]
    state = store_at(agentrun_home).load(new_id).state
    assert (state.status, state.steps, state.agent["budget"]["max_steps"]) == ("paused", 5, 5)


def test_fork_with_run_and_json_streams_json_lines(cli, agentrun_home, tmp_path):
    parent = finished_task(agentrun_home, tmp_path)
    result = cli("fork", parent, "--at", "11", "--run", "--json")
    assert result.code == 0
    first, *events = [json.loads(line) for line in result.out.splitlines()]
    assert first["parent"]["seq"] == 11
    assert events[0]["kind"] == "run_started" and events[-1]["kind"] == "task_finished"


def test_stats_reports_rates_and_people(cli, agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path, task_id="done")
    needs_attention_task(agentrun_home, tmp_path)
    interrupted_task(agentrun_home, tmp_path)
    s = json.loads(cli("stats", "--json").out)
    assert (s["tasks"], s["finished"]) == (3, 1)
    assert s["completion_rate"] == pytest.approx(1 / 3) and s["success_rate"] == 1.0
    assert s["by_status"]["interrupted"] == 1 and s["by_status"]["needs_attention"] == 1
    assert s["needed_person"] == 1 and s["steps"] == {"median": 9.0, "p90": 9.0}
    assert s["input_tokens"] > 0 and s["resumes"] == 0
    assert s["now"].endswith("+00:00") and s["since"] is None


def test_stats_counts_in_doubt_calls_settled_by_reconcile(cli, agentrun_home, tmp_path):
    task_id = in_doubt_task(agentrun_home, tmp_path)
    assert cli("resume", task_id, "--quiet").code == 0
    s = json.loads(cli("stats", "--since", "1h", "--agent", "test", "--json").out)
    assert s["tasks"] == 1 and s["resumes"] == 1
    assert s["resolutions"] == {"retried": {"reconcile": 1}}
    assert s["settled_by_reconcile"] == 1
    assert json.loads(cli("stats", "--agent", "nobody", "--json").out)["tasks"] == 0


def test_stats_human_report(cli, agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path)
    out = cli("stats").out
    assert "1 task (all time)" in out
    assert "(1 of 1 finished task succeeded)" in out
    assert "needed a person  0 tasks" in out
    assert "completion rate  100% (1 of 1 finished)" in out
    assert "steps            median 9 · p90 9" in out


def test_fork_refuses_an_approve_entry_that_names_no_tool(cli, agentrun_home, tmp_path):
    # As start does: a misspelt name would let the tool it meant run without asking.
    parent = finished_task(agentrun_home, tmp_path)
    refused = cli("fork", parent, "--at", "11", "--approve", "chrage", "--run", "-q")
    assert refused.code == 2 and refused.out == ""
    assert "approve names 'chrage', which is not a tool of this agent" in refused.err
    assert [r["task_id"] for r in json.loads(cli("ls", "--json").out)] == [parent]
