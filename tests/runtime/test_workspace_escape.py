"""Paths from the model never escape the workspace (design §5; issue acceptance).

Each attempt is refused with an error the model reads, and the task goes on to finish.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.runtime.agents import call, make_agent, turn


def test_escape_attempts_are_refused_and_the_task_goes_on(tmp_path: Path, agentrun_home: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("top secret")
    attempts = [
        call("read_file", path="../outside/secret.txt"),
        call("read_file", path=str(secret)),
        call("write_file", path="../outside/planted.txt", content="x"),
        call("write_file", path=str(outside / "planted2.txt"), content="x"),
        call("read_file", path="link/secret.txt"),
        call("write_file", path="link/planted3.txt", content="x"),
        call("read_file", path="hard.txt"),
        call("edit_file", path="../outside/secret.txt", old="top", new="no"),
        call("list_files", path=".."),
    ]
    agent = make_agent(tmp_path / "agent", [turn(a) for a in attempts] + [turn(content="ok")])
    os.symlink(outside, agent.workspace / "link")
    os.link(secret, agent.workspace / "hard.txt")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    store = LocalTaskStore(agentrun_home)
    spec = load_spec(agent.spec, SpecOverrides(), cwd=tmp_path)
    task_id = create_task(store, spec, "escape")
    result = Runner(store, task_id, SilentReporter()).run()
    assert result.status == "succeeded"
    outputs = [m["content"] for m in store.load(task_id).state.messages if m["role"] == "tool"]
    assert len(outputs) == len(attempts)
    for output in outputs:
        assert output.startswith("error:"), output
        assert "top secret" not in output
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
