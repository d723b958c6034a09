"""The CLI's error contract for task ids (design §3, §8): one line, the right exit code.

An unknown id, an ambiguous prefix or an invalid id (``../x``, empty, 65 characters) given to
``show`` or ``verify`` exits 2 with exactly one line on stderr that starts with ``error:`` and
no traceback, in-process and as a real process. A corrupt log gives one line and exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from tests.conftest import CliResult, run_agentrun
from tests.runtime.agents import make_agent
from tests.store.builders import build_task

Cli = Callable[..., CliResult]


@pytest.fixture
def two_tasks(agentrun_home: Path) -> list[str]:
    store = LocalTaskStore(agentrun_home)
    return [build_task(store, 4, task_id=t).task_id for t in ("job-alpha", "job-beta")]


def assert_one_error_line(err: str, *needles: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


CASES = [
    ("unknown id", "job-gamma", "no task matches"),
    ("unknown prefix", "zzz", "no task matches"),
    ("ambiguous prefix", "job-", "matches 2 tasks"),
    ("parent path", "../x", "invalid task id"),
    ("slash", "a/b", "invalid task id"),
    ("empty", "", "task id is empty"),
    ("65 characters", "x" * 65, "the limit is 64"),
    ("leading dot", ".hidden", "invalid task id"),
]


@pytest.mark.parametrize("command", ["show", "verify"])
@pytest.mark.parametrize(("case", "query", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_task_id_is_one_error_line_and_exit_2(
    cli: Cli, two_tasks: list[str], command: str, case: str, query: str, says: str
) -> None:
    result = cli(command, query)
    assert result.code == 2, result
    assert_one_error_line(result.err, says)
    assert result.out == ""


@pytest.mark.parametrize("command", ["show", "verify"])
def test_a_bad_task_id_in_a_real_process_is_one_error_line_and_exit_2(
    two_tasks: list[str], command: str
) -> None:
    for query, says in (("../x", "invalid task id"), ("job-", "matches 2 tasks")):
        proc = run_agentrun(command, query)
        assert proc.returncode == 2, proc
        assert_one_error_line(proc.stderr, says)


def test_an_unknown_id_in_an_empty_home_is_one_error_line(cli: Cli, agentrun_home: Path) -> None:
    result = cli("show", "job-alpha")
    assert result.code == 2
    assert_one_error_line(result.err, "no task matches")
    assert not agentrun_home.exists(), "a reader created the home"


def test_a_unique_prefix_resolves(cli: Cli, two_tasks: list[str]) -> None:
    assert cli("show", "job-a", "--json").code == 0
    assert cli("verify", "job-b").code == 0


def test_showing_a_corrupt_task_is_one_error_line_and_exit_1(cli: Cli, agentrun_home: Path) -> None:
    built = build_task(LocalTaskStore(agentrun_home), 10, task_id="job-corrupt")
    segment = built.segments()[-1]
    data = bytearray(segment.read_bytes())
    data[200] ^= 0x01
    segment.write_bytes(bytes(data))
    result = cli("show", "job-corrupt")
    assert result.code == 1
    assert_one_error_line(result.err, "corrupt log", segment.name, "run `agentrun verify`")
    proc = run_agentrun("show", "job-corrupt")
    assert proc.returncode == 1
    assert_one_error_line(proc.stderr, "corrupt log", segment.name)


MODEL_CASES = [
    ("unknown provider", "nosuch:foo", "unknown model provider"),
    ("missing script", "scripted:missing.toml", "missing.toml"),
    ("no model name", "openai:", "names no model"),
]


@pytest.mark.parametrize(("case", "model", "says"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_a_bad_model_is_refused_before_any_task_exists(
    cli: Cli, agentrun_home: Path, tmp_path: Path, case: str, model: str, says: str
) -> None:
    # models.md: a broken script fails with exit 2 before a task starts (and start prints no id).
    agent = make_agent(tmp_path / "agent")
    submitted = cli("submit", "--agent", str(agent.spec), "parent")
    assert submitted.code == 0, submitted
    parent = submitted.out.split()[0]
    workspace = str(agent.workspace)
    for command in (
        ("start", "-m", model, "-t", "files", "-w", workspace, "goal"),
        ("submit", "-m", model, "-t", "files", "-w", workspace, "goal"),
        ("fork", parent, "--at", "1", "--model", model),
    ):
        result = cli(*command)
        assert result.code == 2, (command, result)
        assert result.out == ""  # no task id was printed
        assert_one_error_line(result.err, says)
    assert LocalTaskStore(agentrun_home).task_ids() == [parent]


@pytest.mark.parametrize("name", ["Charge", "files"])
def test_an_approve_entry_that_names_no_tool_is_refused_before_any_task_exists(
    cli: Cli, agentrun_home: Path, tmp_path: Path, name: str
) -> None:
    # A misspelt name (or a toolset's name) would let the tool it meant run without asking.
    agent = make_agent(tmp_path / "agent")
    result = cli("start", "--agent", str(agent.spec), "--approve", name, "goal")
    assert (result.code, result.out) == (2, "")
    assert_one_error_line(result.err, f"approve names {name!r}", "charge")
    assert LocalTaskStore(agentrun_home).task_ids() == []


def test_a_cost_cap_without_prices_is_refused_before_any_task_exists(
    cli: Cli, agentrun_home: Path, tmp_path: Path
) -> None:
    # Design §7: cost is counted from [budget.prices]; without them the cap could never bite.
    agent = make_agent(tmp_path / "agent")
    refused = cli("start", "--agent", str(agent.spec), "--max-cost-usd", "0.5", "goal")
    assert refused.code == 2 and refused.out == ""
    assert_one_error_line(refused.err, "max_cost_usd needs", "[budget.prices]")
    assert LocalTaskStore(agentrun_home).task_ids() == []
    submitted = cli("submit", "--agent", str(agent.spec), "goal")
    task_id = submitted.out.split()[0]
    raised = cli("resume", task_id, "--max-cost-usd", "0.5")
    assert raised.code == 2
    # The task keeps its agent: it says what can still be done, not to edit the agent file.
    assert_one_error_line(raised.err, f"task {task_id}", "max_cost_usd needs", "--max-tokens")
    assert [e.kind for e in LocalTaskStore(agentrun_home).events(task_id)] == ["task_created"]
    prices = "\n[budget]\nmax_cost_usd = 0.5\n[budget.prices]\ninput_per_mtok = 1.0\n"
    agent.spec.write_text(agent.spec.read_text() + prices)
    with_prices = cli("submit", "--agent", str(agent.spec), "goal")
    assert with_prices.code == 0, with_prices.err


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_budget_that_is_not_a_positive_finite_number_is_refused_before_any_task_exists(
    value: str, cli: Cli, agentrun_home: Path, tmp_path: Path
) -> None:
    # TOML and float() both accept nan and inf; neither can be a spending or time limit.
    agent = make_agent(tmp_path / "agent")
    prices = "\n[budget.prices]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n"
    agent.spec.write_text(agent.spec.read_text() + prices)
    for option in ("--max-cost-usd", "--max-tokens", "--max-steps"):
        refused = cli("start", "--agent", str(agent.spec), option, value, "goal")
        assert refused.code == 2 and refused.out == "", (option, refused)
        assert "internal error" not in refused.err
    refused = cli("start", "--agent", str(agent.spec), "--max-cost-usd", value, "goal")
    assert_one_error_line(refused.err, "max_cost_usd must be a positive number")
    task_id = cli("submit", "--agent", str(agent.spec), "goal").out.split()[0]
    raised = cli("resume", task_id, "--max-cost-usd", value)
    assert raised.code == 2
    assert_one_error_line(raised.err, "max_cost_usd must be a positive number")
    assert [e.kind for e in LocalTaskStore(agentrun_home).events(task_id)] == ["task_created"]


@pytest.mark.parametrize("price", ["nan", "inf", "-1.0", '"cheap"', "true"])
def test_a_price_that_is_not_a_number_of_dollars_is_refused(
    price: str, cli: Cli, agentrun_home: Path, tmp_path: Path
) -> None:
    agent = make_agent(tmp_path / "agent")
    prices = f"\n[budget.prices]\ninput_per_mtok = {price}\noutput_per_mtok = 2.0\n"
    agent.spec.write_text(agent.spec.read_text() + prices)
    refused = cli("start", "--agent", str(agent.spec), "goal")
    assert refused.code == 2 and refused.out == ""
    assert_one_error_line(refused.err, "input_per_mtok must be a number of US dollars")
    assert LocalTaskStore(agentrun_home).task_ids() == []


def test_a_huge_since_is_one_error_line_and_exit_2(cli: Cli, agentrun_home: Path) -> None:
    result = cli("stats", "--since", "99999999999d")
    assert result.code == 2
    assert_one_error_line(result.err, "longer than 100 years")


@pytest.mark.parametrize("command", [("ls",), ("ls", "--json"), ("show", "x"), ("stats",)])
def test_an_empty_home_option_is_refused_not_taken_as_the_current_directory(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = run_agentrun("--home", "", *command, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "--home is empty")
    assert list(tmp_path.iterdir()) == []  # nothing was created in the current directory


WRONG_KINDS = [
    ("integer", "[budget]\nmax_steps = 1.5", "[budget] max_steps must be an integer"),
    ("number", '[budget]\nmax_cost_usd = "lots"', "[budget] max_cost_usd must be a number"),
    ("duration", "[budget]\nmax_time = true", '[budget] max_time must be a duration such as "2h"'),
    ("table", "[budget]\nprices = 3", "[budget] prices must be a table"),
    ("string", "system = 3", "'system' must be a string"),
]


UNKNOWN_KEYS = [
    (
        "budget",
        "[budget]\nmax_step = 3",
        "unknown key 'max_step' in [budget]; known keys: "
        "max_attempts, max_cost_usd, max_steps, max_time, max_tokens, prices",
    ),
    (
        "budget.prices",
        "[budget.prices]\ninput_per_tok = 1.0",
        "unknown key 'input_per_tok' in [budget.prices]; known keys: "
        "input_per_mtok, output_per_mtok",
    ),
    ("policy", "[policy]\napprove_all = true", "known keys: approve, on_unknown"),
    ("top level", "budgets = 3", "unknown key 'budgets'; known keys: base_url, budget, context,"),
]


# A value of the wrong kind is named in TOML's words with its article ("must be an integer",
# never "must be a int"); an unknown key comes with the keys its table knows.
SPEC_MISTAKES = WRONG_KINDS + UNKNOWN_KEYS


@pytest.mark.parametrize(
    ("case", "extra", "says"), SPEC_MISTAKES, ids=[c[0] for c in SPEC_MISTAKES]
)
def test_a_mistake_in_an_agent_file_is_one_line_in_plain_words(
    cli: Cli, agentrun_home: Path, tmp_path: Path, case: str, extra: str, says: str
) -> None:
    agent = make_agent(tmp_path / "agent", extra=extra + "\n")
    refused = cli("start", "--agent", str(agent.spec), "goal")
    assert refused.code == 2 and refused.out == ""
    assert_one_error_line(refused.err, str(agent.spec), says)
    assert LocalTaskStore(agentrun_home).task_ids() == []


def test_a_goal_too_large_for_one_record_is_refused_before_any_task_exists(
    cli: Cli, agentrun_home: Path, tmp_path: Path
) -> None:
    agent = make_agent(tmp_path / "agent")
    goals = tmp_path / "goals.txt"
    goals.write_text("x" * (17 << 20) + "\n")
    refused = cli("submit", "--agent", str(agent.spec), "--from", str(goals))
    assert refused.code == 2 and refused.out == ""
    assert "more than the 16,777,216 a log record holds; shorten the goal" in refused.err
    assert LocalTaskStore(agentrun_home).task_ids() == []
    assert [p.name for p in (agentrun_home / "tasks").iterdir()] == []  # no .new-* left
