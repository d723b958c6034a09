"""Resume against a real HTTP model endpoint on 127.0.0.1 (design §5, §6).

A model turn recorded before a kill is never requested again: the fake server counts requests.
The API key given in the environment never reaches any file under the home.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import run_agentrun
from tests.models.fake_endpoints import FakeEndpoint, openai_stream
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import check_effects, ledger, resume_until_done, task_ids

SECRET = "sk-test-never-in-the-log-4242"


def scripted_server(server: FakeEndpoint) -> None:
    server.push(
        openai_stream("looking", [("lookup", '{"key": "a"}')]),
        openai_stream("paying", [("charge", '{"amount": 3}')]),
        openai_stream("all done"),
    )


# The run's log writes: 1 run_started, 2 the first turn (and its intent), 3 the lookup's result,
# 4 the second turn, 5 the charge's result, 6 the last turn. Killed right after a turn is
# written, before its sync ends: it is recorded (a kill leaves the page cache to the disk).
@pytest.mark.parametrize("kill_after_write", [2, 4, 5, 6])
def test_a_recorded_model_turn_is_never_requested_again(tmp_path: Path, kill_after_write: int):
    agent = make_agent(tmp_path / "agent")
    agent.spec.write_text(agent.spec.read_text().replace("scripted:script.json", "openai:fake"))
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with FakeEndpoint() as server:
        scripted_server(server)
        env = {
            **clean,
            "AGENTRUN_HOME": str(home),
            "OPENAI_API_KEY": SECRET,
            "NO_PROXY": "127.0.0.1,localhost",
            "OPENAI_BASE_URL": server.url + "/v1",
            "AGENTRUN_CRASH_AT": f"after_write_before_sync:{kill_after_write}",
            **agent.env(),
        }
        started = run_agentrun("start", "--agent", str(agent.spec), "-q", "goal", env=env)
        assert started.returncode == -signal.SIGKILL, started.stderr
        del env["AGENTRUN_CRASH_AT"]
        task_id = task_ids(home)[0]
        resume_until_done(home, agent, task_id, extra_env=env)
        assert server.request_count == 3  # three turns, each requested exactly once
    assert [e["tool"] for e in ledger(agent)] in (
        ["lookup", "charge"],
        ["lookup", "lookup", "charge"],
    )
    check_effects(home, agent, task_id)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_resumed_task_talks_to_the_endpoint_it_was_started_with(tmp_path: Path) -> None:
    # Resuming must never send the conversation (and a key) to the provider's default endpoint.
    agent = make_agent(tmp_path / "agent")
    agent.spec.write_text(agent.spec.read_text().replace("scripted:script.json", "openai:fake"))
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and "OPENAI" not in k}
    with FakeEndpoint() as server:
        scripted_server(server)
        env = {**clean, "AGENTRUN_HOME": str(home), "NO_PROXY": "127.0.0.1", **agent.env()}
        killed = {**env, "AGENTRUN_CRASH_AT": "after_sync:3"}
        url = server.url + "/v1/"
        started = run_agentrun(
            "start", "--agent", str(agent.spec), "--base-url", url, "-q", "goal", env=killed
        )
        assert started.returncode == -signal.SIGKILL, started.stderr
        task_id = task_ids(home)[0]
        resumed = run_agentrun("resume", task_id, "-q", "--retry-unknown", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert server.request_count == 3
    shown = run_agentrun("show", task_id, "--json", env=env)
    assert json.loads(shown.stdout)["agent"]["base_url"] == server.url + "/v1"
