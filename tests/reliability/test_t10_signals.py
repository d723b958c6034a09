"""T10, real processes: SIGINT and SIGTERM during ``agentrun start`` (design §9, rules 29-30).

The run stops at the next safe point, records ``run_stopped`` and a snapshot, exits 130/143,
and a resume completes; it never stops between a ``tool_intended`` and its tool (the ledger
agrees). A second SIGINT within 10 ms exits at once, and the log is still consistent (at most a
torn tail, INV-CLASSIFY) and resumes to the reference state (INV-PREFIX, INV-EFFECT,
INV-DETERMINISM). Signals are timed by the run's own progress, never by a guessed sleep: the
test reads the ``--json`` event stream and signals after the k-th event, with k drawn from a
seeded RNG over the whole run (k = 0: at once, before the first event), or after the n-th tool
result. ``test_t10_signal_points.py`` delivers signals in-process at each named crash point and
at random crash-point passes.

CI: 6 runs after a tool result, 1 double, 8 random single and 4 random double runs: 24 signals
(with the 60 in-process ones, 84 for T10). The extended tier (``AGENTRUN_STRESS=1``) runs 400
random single and 150 random double runs. The seed is printed; ``AGENTRUN_SEED=<n>`` reruns.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentrun.core.events import Event, RunStarted, RunStopped, ToolIntended
from agentrun.store.local import LocalTaskStore
from agentrun.store.snapshots import list_snapshots
from agentrun.store.verify import verify_task
from tests.runtime.agents import MIXED_TURNS, make_agent
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.kill_harness import (
    SIDE_EFFECT_TOOLS,
    check_effects,
    comparable,
    ledger,
    reference_state,
    resume_until_done,
    task_ids,
)
from tests.trials import trials

SLOW_TURNS = [{**t, "delay_s": 0.2} for t in MIXED_TURNS]
SEED = int(os.environ.get("AGENTRUN_SEED", random.randrange(1 << 30)))
RANDOM_SINGLE = trials(8, 400)
RANDOM_DOUBLE = trials(4, 150)
EXIT_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}
DOUBLE_GAP_S = 0.010  # the plan's "double SIGINT within 10 ms"


def start_streaming(
    tmp_path: Path, turns: list[dict[str, Any]] | None = None, goal: str = "g"
) -> tuple[subprocess.Popen[str], Path, Agent]:
    agent = make_agent(tmp_path / "agent", turns or SLOW_TURNS)
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "--json", goal]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, home, agent


def wait_for_kind(proc: subprocess.Popen[str], kind: str, count: int) -> None:
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["kind"] == kind:
            seen += 1
            if seen == count:
                return
    raise AssertionError(f"the run ended before {count} {kind} events")


def wait_for_events(proc: subprocess.Popen[str], count: int) -> int:
    """Read the stream until ``count`` events arrived (or it ended); how many arrived."""
    assert proc.stdout is not None
    seen = 0
    while seen < count and proc.stdout.readline():
        seen += 1
    return seen


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    """The uninterrupted run's final state, and how many events its run streams."""
    root = tmp_path_factory.mktemp("reference")
    state = reference_state(make_agent(root / "agent"), root / "home")
    (task_id,) = task_ids(root / "home")
    return state, len(list(LocalTaskStore(root / "home").events(task_id)))  # all are streamed


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],  # SIGHUP: the terminal or ssh session closed
)
@pytest.mark.parametrize("after_completions", [1, 3, 5])
def test_a_signal_stops_at_a_safe_point_and_resume_completes(
    tmp_path: Path, signum: int, code: int, after_completions: int
) -> None:
    proc, home, agent = start_streaming(tmp_path)
    wait_for_kind(proc, "tool_completed", after_completions)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    name = signal.Signals(signum).name
    assert f"{name}: stopping after the current step (nothing is lost)" in err  # heard at once
    task_id = task_ids(home)[0]
    events = list(LocalTaskStore(home).events(task_id))
    stopped = [e for e in events if isinstance(e, RunStopped)]
    assert stopped and stopped[-1].reason == "signal"
    assert stopped[-1].detail == f"stopped by {signal.Signals(signum).name}"
    # Never between intent and tool: every intent of the run has its completion.
    intents = {e.call_id for e in events if isinstance(e, ToolIntended)}
    completed = {e.call_id for e in events if e.kind == "tool_completed"}
    assert intents <= completed
    assert resume_until_done(home, agent, task_id) == [0]
    check_effects(home, agent, task_id)


def test_a_second_sigint_exits_at_once_and_the_log_stays_consistent(tmp_path: Path) -> None:
    proc, home, agent = start_streaming(tmp_path)
    wait_for_kind(proc, "tool_completed", 2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    task_id = task_ids(home)[0]
    store = LocalTaskStore(home)
    if not isinstance(list(store.events(task_id))[-1], RunStopped):  # not merged into one
        assert f"stopped at once; the log is consistent: `agentrun resume {task_id}`" in err
    assert verify_task(store.ops, store.task_dir(task_id), task_id).is_ok
    resume_until_done(home, agent, task_id)
    check_effects(home, agent, task_id)


# -- at random moments ---------------------------------------------------------------------------


def random_turns(rng: random.Random) -> list[dict[str, Any]]:
    """MIXED_TURNS with model delays of 0-20 ms, so that moments spread over real time too."""
    return [{**t, "delay_s": round(rng.uniform(0, 0.02), 4)} for t in MIXED_TURNS]


def check_after_signals(
    home: Path, agent: Agent, code: int, err: str, signum: int, reference: dict, where: str
) -> None:
    """What a run stopped by ``signum`` at any moment must leave (see module), then resume.

    Outside a run no handler is installed, so the default disposition may end the process
    (exit ``-signum``): before the task is durable, or between its creation and the run. After
    the command the CLI exits at once with 130/143 (``cli.app.main``).
    """
    ids = task_ids(home)
    if not ids:  # signalled before the task was durable (rule 3): nothing ran
        assert code in (EXIT_CODE[signum], -signum), f"{where}: exit {code}: {err}"
        assert ledger(agent) == [], f"{where}: a tool ran for a task that does not exist"
        return
    (task_id,) = ids
    store = LocalTaskStore(home)
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert report.is_ok, f"{where}: {report.problems}"  # INV-CLASSIFY: torn at most
    events = list(store.events(task_id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), where  # INV-PREFIX
    if events[-1].kind == "task_finished":  # the signal came after the last step
        assert code in (0, EXIT_CODE[signum], -signum), f"{where}: exit {code}: {err}"
    elif any(isinstance(e, RunStarted) for e in events):
        assert code == EXIT_CODE[signum], f"{where}: exit {code}: {err}"
        check_stopped_run(store, task_id, events, agent, signum, where)
    else:  # between creation and the run: the handlers were not installed yet
        assert code in (EXIT_CODE[signum], -signum), f"{where}: exit {code}: {err}"
    codes = resume_until_done(home, agent, task_id)
    assert codes == [0], f"{where}: a run stopped by a signal left a call in doubt: {codes}"
    check_effects(home, agent, task_id)
    final = store.load(task_id).state
    assert comparable(final.to_dict()) == reference, where


def check_stopped_run(
    store: LocalTaskStore, task_id: str, events: list[Event], agent: Agent, signum: int, where: str
) -> None:
    """run_stopped last, with a snapshot of it; no intent without its tool started and done."""
    last = events[-1]
    assert isinstance(last, RunStopped) and last.reason == "signal", f"{where}: {last}"
    assert last.detail == f"stopped by {signal.Signals(signum).name}", where
    snaps = list_snapshots(store.ops, str(Path(store.task_dir(task_id)) / "snapshots"))
    assert snaps and snaps[0].endswith(f"{last.seq:020d}.snap"), f"{where}: no final snapshot"
    intents = {e.call_id: e for e in events if isinstance(e, ToolIntended)}
    completed = {e.call_id for e in events if e.kind == "tool_completed"}
    assert set(intents) <= completed, f"{where}: stopped between an intent and its tool"
    ran = {e["key"] for e in ledger(agent)}
    for intent in intents.values():
        if intent.tool in SIDE_EFFECT_TOOLS:
            assert intent.idempotency_key in ran, f"{where}: {intent.call_id} never started"


@pytest.mark.parametrize("trial", range(RANDOM_SINGLE))
def test_a_signal_at_a_random_moment_stops_cleanly_and_resume_completes(
    tmp_path: Path, reference: tuple[dict, int], trial: int
) -> None:
    rng = random.Random(SEED + trial)
    state, run_events = reference
    signum = rng.choice([signal.SIGINT, signal.SIGTERM])
    after = rng.randint(0, run_events)
    where = f"seed {SEED + trial} (AGENTRUN_SEED={SEED}): {signum.name} after {after} events"
    print(where)
    proc, home, agent = start_streaming(tmp_path, random_turns(rng), "goal")
    wait_for_events(proc, after)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err or after == 0, f"{where}: {err}"
    check_after_signals(home, agent, proc.returncode, err, signum, state, where)


@pytest.mark.parametrize("trial", range(RANDOM_DOUBLE))
def test_a_double_sigint_at_a_random_moment_exits_at_once_and_resume_completes(
    tmp_path: Path, reference: tuple[dict, int], trial: int
) -> None:
    rng = random.Random(SEED + RANDOM_SINGLE + trial)
    state, run_events = reference
    after = rng.randint(1, run_events)
    gap = rng.uniform(0, DOUBLE_GAP_S)
    where = (
        f"seed {SEED + RANDOM_SINGLE + trial} (AGENTRUN_SEED={SEED}): SIGINT twice "
        f"{gap * 1e3:.1f} ms apart after {after} events"
    )
    print(where)
    proc, home, agent = start_streaming(tmp_path, random_turns(rng), "goal")
    wait_for_events(proc, after)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)  # not a wait for a state: the gap between the two signals is the test case
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    code = proc.returncode
    assert "Traceback" not in err, f"{where}: {err}"
    (task_id,) = task_ids(home)
    store = LocalTaskStore(home)
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert report.is_ok, f"{where}: {report.problems}"  # INV-CLASSIFY: torn at most
    events = list(store.events(task_id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), where  # INV-PREFIX
    # 130: the handler's os._exit, or a clean stop. -SIGINT: a signal that came before the run's
    # handlers were installed: never in the middle of a run.
    if events[-1].kind == "task_finished":
        assert code in (0, 130, -signal.SIGINT), f"{where}: exit {code}: {err}"
    elif code == -signal.SIGINT and any(isinstance(e, RunStarted) for e in events):
        assert isinstance(events[-1], RunStopped), f"{where}: killed mid-run: {events[-1]}"
    else:
        assert code in (130, -signal.SIGINT), f"{where}: exit {code}: {err}"
    resume_until_done(home, agent, task_id)
    check_effects(home, agent, task_id)
    assert comparable(store.load(task_id).state.to_dict()) == state, where


# -- a signal while the process exits -------------------------------------------------------------

EXITING = """
import atexit, os, runpy, signal, sys

def interrupted_on_the_way_out():
    # As filelock's own atexit hook does, Python code runs while the interpreter exits; a
    # second Ctrl-C that arrives now lands in it.
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))

atexit.register(interrupted_on_the_way_out)
sys.argv[0] = "agentrun"
runpy.run_module("agentrun", run_name="__main__", alter_sys=True)
"""


def test_a_sigint_while_the_process_exits_gives_no_traceback(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-c", EXITING, "start", "--agent", str(agent.spec), "-q", "goal"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    (task_id,) = task_ids(home)
    assert LocalTaskStore(home).load(task_id).state.status == "succeeded"
    assert proc.returncode in (0, 130), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def _streaming_until_started(
    tmp_path: Path, turns: list[dict[str, Any]], extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], Path, Agent]:
    agent = make_agent(tmp_path / "agent", turns)
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "--json"]
    proc = subprocess.Popen(
        [*argv, *extra, "g"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_kind(proc, "run_started", 1)
    return proc, home, agent


def _stops_promptly(proc: subprocess.Popen[str], signum: int, home: Path) -> None:
    time.sleep(0.3)  # inside the wait, not at a step boundary
    signalled = time.monotonic()
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert time.monotonic() - signalled < 3  # the wait was cut short, not sat out
    assert proc.returncode == EXIT_CODE[signum]
    events = list(LocalTaskStore(home).events(task_ids(home)[0]))
    assert isinstance(events[-1], RunStopped) and events[-1].reason == "signal"
    assert not any(e.kind == "model_responded" for e in events)  # the turn was not recorded


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_model_endpoint_is_retried_stops_at_once(
    tmp_path: Path, signum: int
) -> None:
    # Design §9: waiting to retry a model is a safe point; a backoff of seconds (or a server's
    # Retry-After of minutes) must not hold a Ctrl-C or a cron SIGTERM.
    with socket.socket() as probe:  # a port nobody listens on: every attempt is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    proc, home, _agent = _streaming_until_started(
        tmp_path, MIXED_TURNS, ("--model", "openai:m", "--base-url", base_url)
    )
    _stops_promptly(proc, signum, home)


def test_a_signal_during_a_long_scripted_delay_stops_at_once_and_resume_completes(
    tmp_path: Path,
) -> None:
    turns = [{**MIXED_TURNS[0], "delay_s": 60}, *MIXED_TURNS[1:]]
    proc, home, agent = _streaming_until_started(tmp_path, turns)
    _stops_promptly(proc, signal.SIGINT, home)
    task_id = task_ids(home)[0]
    script = Path(agent.spec).parent / "script.json"
    script.write_text(json.dumps({"turns": MIXED_TURNS}))  # the same turns, without the delay
    assert resume_until_done(home, agent, task_id) == [0]
    check_effects(home, agent, task_id)


def test_a_closed_output_stops_the_run_cleanly_and_resume_completes(tmp_path: Path) -> None:
    # `agentrun start --json | head -1`: the write error must not kill the run mid-step.
    proc, home, agent = start_streaming(tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["kind"] == "task_created"
    proc.stdout.close()  # the reader goes away, as `head -1` does
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == 141
    task_id = task_ids(home)[0]
    events = list(LocalTaskStore(home).events(task_id))
    assert isinstance(events[-1], RunStopped) and "SIGPIPE" in events[-1].detail
    intents = {e.call_id for e in events if isinstance(e, ToolIntended)}
    assert intents <= {e.call_id for e in events if e.kind == "tool_completed"}
    assert resume_until_done(home, agent, task_id) == [0]
    check_effects(home, agent, task_id)


def test_a_signal_during_the_outcome_check_stops_it_and_the_resume_checks_again(
    tmp_path: Path,
) -> None:
    # The check decides success, so a stop during it decides nothing: it runs again on resume.
    check = "test -f ../fast || { touch ../check-started; sleep 30; }"
    agent = make_agent(
        tmp_path / "agent", [{"content": "done"}], extra=f"[outcome]\ncheck = '{check}'\n"
    )
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "-q", "g"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    started = tmp_path / "agent" / "check-started"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the check's own marker, not guessing a moment
    assert started.exists(), "the check never started"
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - began < 5
    (task_id,) = task_ids(home)
    last = list(LocalTaskStore(home).events(task_id))[-1]
    assert (
        isinstance(last, RunStopped) and last.detail == "stopped by SIGINT during the outcome check"
    )
    (tmp_path / "agent" / "fast").touch()
    assert resume_until_done(home, agent, task_id) == [0]
    assert LocalTaskStore(home).load(task_id).state.check["passed"] is True


def test_a_second_sigint_after_the_notice_exits_at_once_and_says_how_to_go_on(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "napping"
    tools = tmp_path / "nap_tools.py"
    tools.write_text(
        "import time\nfrom pathlib import Path\nfrom agentrun import tool\n\n\n"
        '@tool(effect=\'read\')\ndef nap() -> str:\n    """Sleep a while."""\n'
        f"    Path({str(marker)!r}).touch()\n    time.sleep(20)\n    return 'rested'\n"
    )
    turns = [{"tool_calls": [{"name": "nap"}]}, {"content": "done"}]
    agent = make_agent(tmp_path / "agent", turns, tools=("files", str(tools)))
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "g"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the tool's own marker, not guessing a moment
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    for line in proc.stderr:  # the run says at once that it heard the first one
        if "SIGINT: stopping after the current step" in line:
            break
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - began < 5
    (task_id,) = task_ids(home)
    assert f"stopped at once; the log is consistent: `agentrun resume {task_id}` continues" in err


def test_resume_stopped_by_sighup_exits_129(tmp_path: Path) -> None:
    # resume sums up the exit codes of its tasks; a hangup must not read as success.
    agent = make_agent(tmp_path / "agent", SLOW_TURNS)
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentrun",
            "start",
            "--agent",
            str(agent.spec),
            "-q",
            "--max-steps",
            "1",
            "g",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 4, first.stderr
    (task_id,) = task_ids(home)
    argv = [sys.executable, "-m", "agentrun", "resume", task_id, "--max-steps", "99", "--json"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_kind(proc, "tool_completed", 1)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=30)
    assert proc.returncode == 129
