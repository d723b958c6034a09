"""How counts, sizes and statuses read in human output (``cli.wording``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrun.cli.wording import format_bytes, naming_task, outcome_line, plural, status_words
from tests.cli.sample_tasks import (  # noqa: F401
    finished_task,
    ledger_env,
    needs_attention_task,
)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 runs"), (1, "1 run"), (2, "2 runs"), (1200, "1,200 runs")],
)
def test_a_count_takes_the_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "run") == expected


def test_an_irregular_plural_is_given_by_the_caller() -> None:
    assert plural(1, "needs attention", "need attention") == "1 needs attention"
    assert plural(3, "needs attention", "need attention") == "3 need attention"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KiB"),
        (1_234_567, "1.2 MiB"),
        (1024**2 - 1, "1.0 MiB"),  # never "1024.0 KiB"
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),
    ],
)
def test_a_size_is_in_the_largest_unit_below_1024(size: int, expected: str) -> None:
    assert format_bytes(size) == expected


def test_a_status_reads_as_words_and_an_outcome_line_joins_with_a_dash() -> None:
    assert status_words("needs_attention") == "needs attention"
    assert outcome_line("t1", "needs_attention", "call c1 needs approval") == (
        "t1: needs attention — call c1 needs approval"
    )
    assert outcome_line("t1", "succeeded", "") == "t1: succeeded"


# -- every command says "needs attention" (the JSON status stays needs_attention) -------------


@pytest.mark.usefixtures("ledger_env")
@pytest.mark.parametrize(
    "command",
    [["ls"], ["show", "waiting"], ["log", "waiting"]],
    ids=lambda c: c[0],
)
def test_a_task_waiting_for_a_person_reads_needs_attention(
    cli, agentrun_home: Path, tmp_path: Path, command: list[str]
) -> None:
    needs_attention_task(agentrun_home, tmp_path)
    result = cli(*command)
    human = result.out + result.err
    assert "needs attention" in human and "needs_attention" not in human
    assert json.loads(cli("show", "waiting", "--json").out)["status"] == "needs_attention"


@pytest.mark.usefixtures("ledger_env")
def test_resume_reports_a_task_waiting_for_a_person_as_needs_attention(
    cli, agentrun_home: Path, tmp_path: Path
) -> None:
    needs_attention_task(agentrun_home, tmp_path)
    result = cli("resume", "waiting")
    assert result.code == 3
    assert result.err.splitlines()[-1].startswith("waiting: needs attention — call call_0_0 ")


@pytest.mark.usefixtures("ledger_env")
def test_show_after_a_person_settled_the_call_says_needs_attention_once(
    cli, agentrun_home: Path, tmp_path: Path
) -> None:
    task_id = needs_attention_task(agentrun_home, tmp_path)
    call_id = json.loads(cli("show", task_id, "--json").out)["pending_calls"][0]["call_id"]
    cli("resolve", task_id, call_id, "--deny")
    (stopped,) = [x for x in cli("show", task_id).out.splitlines() if x.startswith("stopped")]
    assert stopped == "stopped  needs attention, settled since: `agentrun resume` continues"


def test_an_error_about_one_of_many_tasks_names_the_task_once() -> None:
    from agentrun.core.errors import CorruptLogError, SpecError

    named = CorruptLogError("x.seg at byte 3: crc", task_id="t-1")
    assert (
        naming_task("t-1", named, "left out")
        == "task t-1 left out: corrupt log: x.seg at byte 3: crc"
    )
    assert naming_task("t-1", SpecError("no script")) == "task t-1: no script"
    # Another task named in the message is not this one: "t-10" is not "t-1".
    other = CorruptLogError("bad", task_id="t-10")
    assert naming_task("t-1", other) == "task t-1: corrupt log of task t-10: bad"


@pytest.mark.usefixtures("ledger_env")
def test_resuming_a_finished_task_prints_no_answer_on_stdout(
    cli, agentrun_home: Path, tmp_path: Path
) -> None:
    # stdout carries a task's answer; "already succeeded" is not one.
    task_id = finished_task(agentrun_home, tmp_path)
    result = cli("resume", task_id)
    assert (result.code, result.out) == (0, "")
    assert result.err.strip() == f"{task_id}: succeeded — task already succeeded"


@pytest.mark.usefixtures("ledger_env")
def test_a_result_given_by_a_person_reads_as_recorded(
    cli, agentrun_home: Path, tmp_path: Path
) -> None:
    from tests.cli.sample_tasks import in_doubt_task

    task_id = in_doubt_task(agentrun_home, tmp_path)
    (call_id,) = [
        c["call_id"] for c in json.loads(cli("show", task_id, "--json").out)["in_doubt_calls"]
    ]
    said = cli("resolve", task_id, call_id, "--result", '"posted"')
    assert (
        said.err.strip()
        == f"call {call_id}: result recorded; `agentrun resume {task_id}` continues the task"
    )
