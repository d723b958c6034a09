"""``submit``, ``cancel`` and ``prune`` from the command line (issue: queued work, small home).

Prune changes nothing on a dry run, never touches a claimed task, reports exactly the bytes it
frees, and a prune killed midway leaves every task whole or gone (rule 5).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import call, make_agent, turn
from tests.runtime.kill_harness import queue_tasks

TURNS = [turn(call("write_file", path="a.txt", content="x" * 3000)), turn(content="done")]


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = make_agent(tmp_path / "agent", TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(made.ledger))
    return made


def finished_tasks(home: Path, agent, count: int) -> list[str]:
    store = LocalTaskStore(home)
    spec = load_spec(agent.spec, SpecOverrides(), cwd=agent.spec.parent)
    ids = []
    for n in range(count):
        task_id = create_task(store, spec, f"goal {n}")
        Runner(store, task_id, SilentReporter()).run()
        ids.append(task_id)
    return ids


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest.update(f"{path}|{st.st_mode}|{st.st_size}|{st.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tree_bytes(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file())


def test_submit_queues_a_task_and_prints_its_id(cli, agent) -> None:
    result = cli("submit", "--agent", agent.spec, "--json", "do it")
    assert result.code == 0
    queued = json.loads(result.out)
    assert queued["status"] == "queued"
    listed = json.loads(cli("ls", "--json").out)
    assert [(t["task_id"], t["status"]) for t in listed] == [(queued["task_id"], "queued")]


def test_submit_from_a_file_is_all_or_nothing_unless_bad_lines_are_skipped(
    cli, agent, tmp_path: Path
) -> None:
    goals = tmp_path / "goals.txt"
    goals.write_text(
        "# nightly work\nfirst goal\n{not json\n"
        '{"goal": "second", "max_steps": 5, "id": "second-task"}\n\n'
    )
    refused = cli("submit", "--agent", agent.spec, "--from", goals)
    assert refused.code == 2
    assert "line 3" in refused.err and "nothing was queued" in refused.err
    assert json.loads(cli("ls", "--json").out) == []
    accepted = cli("submit", "--agent", agent.spec, "--from", goals, "--skip-bad", "--json")
    assert accepted.code == 0
    report = json.loads(accepted.out)
    assert len(report["queued"]) == 2 and report["skipped_lines"] == [3]
    shown = json.loads(cli("show", "second-task", "--json").out)
    assert shown["agent"]["budget"]["max_steps"] == 5


def test_cancel_a_queued_task(cli, agent) -> None:
    task_id = json.loads(cli("submit", "--agent", agent.spec, "--json", "x").out)["task_id"]
    assert cli("cancel", task_id).code == 0
    assert json.loads(cli("show", task_id, "--json").out)["status"] == "cancelled"
    again = cli("cancel", task_id)
    assert again.code == 2 and again.err.startswith("error:")


def test_cancel_a_running_task_stops_it_at_the_next_step(tmp_path: Path, agentrun_home) -> None:
    slow = make_agent(
        tmp_path / "slow", [turn(call("lookup", key=str(i)), delay_s=0.2) for i in range(30)]
    )
    env = {**os.environ, **slow.env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentrun", "start", "--agent", str(slow.spec), "--json", "g"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    task_id = ""
    for line in proc.stdout:
        event = json.loads(line)
        task_id = task_id or event.get("task_id", "")
        if event["kind"] == "tool_completed":
            break
    cancelled = run_agentrun("cancel", task_id)
    assert cancelled.returncode == 0
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    store = LocalTaskStore(agentrun_home)
    state = store.load(task_id).state
    assert state.status == "cancelled" and state.steps < 30
    assert any(e.kind == "cancel_requested" for e in store.events(task_id))
    assert not (Path(store.task_dir(task_id)) / "cancel-request").exists()


def test_prune_dry_run_changes_nothing(cli, agent, agentrun_home: Path) -> None:
    finished_tasks(agentrun_home, agent, 3)
    before = tree_digest(agentrun_home)
    result = cli("prune", "--dry-run", "--json")
    assert result.code == 0 and len(json.loads(result.out)["tasks"]) == 3
    assert tree_digest(agentrun_home) == before


def test_prune_reports_exactly_the_bytes_it_frees(cli, agent, agentrun_home: Path) -> None:
    ids = finished_tasks(agentrun_home, agent, 4)
    before = tree_bytes(agentrun_home)
    report = json.loads(cli("prune", "--keep", "1", "--yes", "--json").out)
    assert len(report["tasks"]) == 3
    assert report["bytes_freed"] == before - tree_bytes(agentrun_home)
    assert [t["task_id"] for t in json.loads(cli("ls", "--json").out)] == [ids[-1]]


def test_squash_keeps_the_final_state_and_reports_the_bytes_it_frees(
    cli, agent, agentrun_home: Path
) -> None:
    (task_id,) = finished_tasks(agentrun_home, agent, 1)
    shown_before = json.loads(cli("show", task_id, "--json").out)
    before = tree_bytes(agentrun_home)
    report = json.loads(cli("prune", "--squash", "--yes", "--json").out)
    assert report["bytes_freed"] == before - tree_bytes(agentrun_home) > 0
    shown_after = json.loads(cli("show", task_id, "--json").out)
    for key in ("status", "steps", "messages", "files", "input_tokens", "answer"):
        assert shown_after[key] == shown_before[key]
    assert cli("verify", task_id).code == 0


def test_squash_leaves_tasks_squashed_before_alone(cli, agent, agentrun_home: Path) -> None:
    (old,) = finished_tasks(agentrun_home, agent, 1)
    assert cli("prune", "--squash", "--yes").code == 0
    squashed = tree_digest(agentrun_home / "tasks" / old)
    (new,) = finished_tasks(agentrun_home, agent, 1)
    dry = cli("prune", "--squash", "--dry-run", "--json")
    assert [t["task_id"] for t in json.loads(dry.out)["tasks"]] == [new]
    again = cli("prune", "--squash", "--yes")
    assert again.code == 0 and again.out.startswith(f"squashed {new} (")
    assert old not in again.out + again.err and "squashed 1 task, " in again.err
    assert tree_digest(agentrun_home / "tasks" / old) == squashed  # summary not rewritten
    nothing = cli("prune", "--squash", "--yes", "--json")
    assert json.loads(nothing.out)["tasks"] == []


def test_prune_never_deletes_a_claimed_task(cli, agent, agentrun_home: Path) -> None:
    (task_id,) = finished_tasks(agentrun_home, agent, 1)
    holder = LocalTaskStore(agentrun_home).open_writer(task_id)
    try:
        result = run_agentrun("prune", "--yes", "--json")
    finally:
        holder.close()
    report = json.loads(result.stdout)
    assert report["tasks"] == [] and report["skipped"][0]["task_id"] == task_id
    assert json.loads(cli("show", task_id, "--json").out)["status"] == "succeeded"


def test_prune_asks_for_yes_when_not_in_a_terminal(agent, agentrun_home: Path) -> None:
    finished_tasks(agentrun_home, agent, 1)
    result = run_agentrun("prune")
    assert result.returncode == 2 and "--yes" in result.stderr


@pytest.mark.parametrize(
    ("point", "squash"),
    [
        ("prune_after_rename:1", False),
        ("prune_after_rename:2", False),
        ("squash_committed:2", True),
    ],
)
def test_a_prune_killed_midway_leaves_every_task_whole_or_gone(
    cli, agent, agentrun_home: Path, point: str, squash: bool
) -> None:
    ids = finished_tasks(agentrun_home, agent, 3)
    states = {t: json.loads(cli("show", t, "--json").out) for t in ids}
    args = ["prune", "--yes", *(["--squash"] if squash else [])]
    killed = run_agentrun(*args, env={"AGENTRUN_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL
    assert run_agentrun("verify", "--all").returncode == 0
    for task_id in json.loads(cli("ls", "--json").out):
        shown = json.loads(cli("show", task_id["task_id"], "--json").out)
        assert shown["messages"] == states[task_id["task_id"]]["messages"]
    assert run_agentrun(*args).returncode == 0  # the next prune finishes the job
    leftovers = [p.name for p in (agentrun_home / "tasks").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_bad_budget_on_a_submit_line_is_blamed_on_that_line(cli, agent, tmp_path: Path) -> None:
    goals = tmp_path / "goals.jsonl"
    goals.write_text('{"goal": "ok"}\n{"goal": "bad", "max_steps": -1}\n')
    refused = cli("submit", "--agent", agent.spec, "--from", goals)
    assert refused.code == 2
    assert "line 2" in refused.err and "this line: [budget] max_steps" in refused.err
    assert "command line" not in refused.err


def test_submit_from_a_file_refuses_a_goal_given_too(cli, agent, tmp_path: Path) -> None:
    goals = tmp_path / "goals.txt"
    goals.write_text("first goal\n")
    refused = cli("submit", "--agent", agent.spec, "--from", goals, "and this goal?")
    assert refused.code == 2 and "give no GOAL" in refused.err
    assert json.loads(cli("ls", "--json").out) == []


def test_prune_reports_sizes_and_counts_for_people(cli, agent, agentrun_home: Path) -> None:
    (only,) = finished_tasks(agentrun_home, agent, 1)
    one = cli("prune", "--dry-run")
    assert re.fullmatch(rf"would delete {only} \(\d+\.\d KiB\)\n", one.out)
    assert re.fullmatch(r"would delete 1 task, \d+\.\d KiB\n", one.err)
    finished_tasks(agentrun_home, agent, 1)
    two = cli("prune", "--yes")
    assert re.fullmatch(r"deleted 2 tasks, \d+\.\d KiB\n", two.err)
    assert "bytes" not in two.out + two.err and "(s)" not in two.err


def test_prune_asks_for_yes_naming_how_many_tasks(agent, agentrun_home: Path) -> None:
    finished_tasks(agentrun_home, agent, 1)
    result = run_agentrun("prune", "--squash")
    assert result.returncode == 2 and "prune would squash 1 task; pass --yes" in result.stderr


def test_batch_reports_a_task_waiting_for_a_person_as_needs_attention(
    cli, tmp_path: Path, agentrun_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = make_agent(
        tmp_path / "waiting",
        [turn(call("charge", amount=1)), turn(content="paid")],
        extra='[policy]\napprove = ["charge"]\n',
    )
    monkeypatch.setenv("AGENTRUN_LEDGER", str(waiting.ledger))
    (task_id,) = queue_tasks(agentrun_home, waiting.spec, 1)
    result = cli("batch")
    assert result.code == 3
    assert result.err.startswith(f"{task_id}: needs attention — call call_0_0 (charge) needs ")
    assert "needs_attention" not in result.err
    assert ", 1 needs attention, " in result.out


def test_batch_prints_each_task_as_start_does_with_a_dash_before_the_message(
    cli, agent, agentrun_home: Path
) -> None:
    (task_id,) = queue_tasks(agentrun_home, agent.spec, 1)
    result = cli("batch")
    assert result.code == 0
    assert result.err == f"{task_id}: succeeded — done\n"


def test_batch_json_prints_each_task_on_stderr_unless_quiet(
    cli, agent, agentrun_home: Path
) -> None:
    (first,) = queue_tasks(agentrun_home, agent.spec, 1)
    result = cli("batch", "--json")
    assert result.code == 0 and json.loads(result.out)["succeeded"] == 1  # stdout: JSON only
    assert result.err == f"{first}: succeeded — done\n"
    queue_tasks(agentrun_home, agent.spec, 1)
    quiet = cli("batch", "--json", "--quiet")
    assert quiet.code == 0 and json.loads(quiet.out)["succeeded"] == 1 and quiet.err == ""
