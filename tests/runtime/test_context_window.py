"""The context window as a managed, recoverable resource (issue acceptance).

A fake OpenAI-compatible endpoint records every prompt: none exceeds ``[context] max_tokens`` by
the estimator; markers name the right messages; ``recall`` returns the exact original; the
prompts are byte-identical with and without a ``kill -9`` and resume in the middle; a 1,000-step
task with 5 KB tool outputs runs within a 32k-token context and every original is recoverable.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from agentrun.core.tokens import messages_tokens, tools_tokens
from agentrun.runtime.recall import recall_message
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.models.fake_endpoints import FakeEndpoint, openai_stream
from tests.runtime.agents import call, make_agent, turn
from tests.runtime.kill_harness import resume_until_done, task_ids
from tests.runtime.ledger_tools import blob

MAX_TOKENS = 3000
TURNS = 14


def play(server: FakeEndpoint) -> None:
    for n in range(TURNS):
        server.push(openai_stream(f"reading {n}", [("blob", json.dumps({"index": n}))]))
    server.push(openai_stream("checking", [("recall", json.dumps({"message": 2}))]))
    server.push(openai_stream("done"))


def wire_tokens(body: dict[str, Any]) -> int:
    """The prompt's estimate, recomputed from what went over the wire."""
    messages = []
    for m in body["messages"]:
        calls = [
            {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for c in m.get("tool_calls") or []
        ]
        messages.append({"content": m.get("content") or "", "tool_calls": calls})
    return messages_tokens(messages) + tools_tokens(t["function"] for t in body.get("tools", []))


def endpoint_agent(root: Path):
    agent = make_agent(root, extra=f"[context]\nmax_tokens = {MAX_TOKENS}\n")
    agent.spec.write_text(agent.spec.read_text().replace("scripted:script.json", "openai:fake"))
    return agent


def run_through_endpoint(tmp_path: Path, crash_at: str | None) -> tuple[list[dict], Path, str]:
    agent = endpoint_agent(tmp_path / "agent")
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with FakeEndpoint() as server:
        play(server)
        env = {
            **clean,
            "AGENTRUN_HOME": str(home),
            "OPENAI_BASE_URL": server.url + "/v1",
            "NO_PROXY": "127.0.0.1",
            **agent.env(),
        }
        crash = {"AGENTRUN_CRASH_AT": crash_at} if crash_at else {}
        started = run_agentrun(
            "start", "--agent", str(agent.spec), "-q", "read it all", env={**env, **crash}
        )
        task_id = task_ids(home)[0]
        if crash_at:
            assert started.returncode == -signal.SIGKILL
            resume_until_done(home, agent, task_id, extra_env=env)
        else:
            assert started.returncode == 0, started.stderr
        bodies = [r.json() for r in server.requests]
    return bodies, home, task_id


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path, str]:
    return run_through_endpoint(tmp_path_factory.mktemp("plain"), None)


def test_no_prompt_exceeds_the_budget(uninterrupted) -> None:
    bodies, _home, _task = uninterrupted
    assert len(bodies) == TURNS + 2
    assert all(wire_tokens(body) <= MAX_TOKENS for body in bodies)
    assert wire_tokens(bodies[-1]) > MAX_TOKENS // 2  # the budget was actually in play


def test_markers_name_the_right_messages_and_recall_returns_the_exact_original(
    uninterrupted,
) -> None:
    bodies, home, task_id = uninterrupted
    state = LocalTaskStore(home).load(task_id).state
    markers = 0
    for body in bodies:
        for message in body["messages"]:
            for number in re.findall(r"recall\(message=(\d+)\)", message.get("content") or ""):
                markers += 1
                original = state.messages[int(number) - 1]
                head = message["content"].split("\n[…")[0]
                assert original["role"] == "tool" and original["content"].startswith(head)
    assert markers > 0
    recalled = [m for m in state.messages if m["role"] == "tool" and m["name"] == "recall"]
    assert recalled[0]["content"] == blob(0)  # message 2 is the first tool output
    assert recall_message(LocalTaskStore(home), state, 2) == blob(0)
    assert state.compactions  # each compaction is an event naming what it replaced


@pytest.mark.parametrize("crash_at", ["after_sync:7", "after_write_before_sync:20"])
def test_prompts_are_byte_identical_with_a_kill_and_resume(
    uninterrupted, tmp_path: Path, crash_at: str
) -> None:
    reference, _home, _task = uninterrupted
    bodies, _home2, _task2 = run_through_endpoint(tmp_path, crash_at)
    assert [json.dumps(b, sort_keys=True) for b in bodies] == [
        json.dumps(b, sort_keys=True) for b in reference
    ]


def test_a_thousand_steps_of_5kb_outputs_fit_32k_and_every_original_is_recoverable(
    tmp_path: Path, agentrun_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentrun.models.scripted import ScriptedModel

    steps = 1000
    turns = [turn(call("blob", index=n)) for n in range(steps)] + [turn(content="done")]
    agent = make_agent(tmp_path / "agent", turns, extra="[context]\nmax_tokens = 32000\n")
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    prompts: list[int] = []
    original_complete = ScriptedModel.complete

    def recording(self: ScriptedModel, request: Any, **kwargs: Any) -> Any:
        messages = [m.to_dict() for m in request.messages]
        prompts.append(messages_tokens(messages) + tools_tokens(t.to_dict() for t in request.tools))
        return original_complete(self, request, **kwargs)

    monkeypatch.setattr(ScriptedModel, "complete", recording)
    store = LocalTaskStore(agentrun_home)
    task_id = create_task(store, load_spec(agent.spec, SpecOverrides(), cwd=tmp_path), "read")
    assert Runner(store, task_id, SilentReporter()).run().status == "succeeded"
    assert len(prompts) == steps + 1 and max(prompts) <= 32000
    state = store.load(task_id).state
    originals = {e.seq: e.output for e in store.events(task_id) if e.kind == "tool_completed"}
    tool_messages = [(n, m) for n, m in enumerate(state.messages, start=1) if m["role"] == "tool"]
    assert len(tool_messages) == steps
    for step, (number, message) in enumerate(tool_messages):
        assert originals[message["seq"]] == blob(step)  # every original is in the log
        if step % 50 == 0 or step == steps - 1:  # and recall reads it back (sampled: slow-ish)
            assert recall_message(store, state, number) == blob(step)


def test_show_at_displays_the_compacted_context_and_the_full_conversation(uninterrupted) -> None:
    _bodies, home, task_id = uninterrupted
    store = LocalTaskStore(home)
    compacted_at = next(e.seq for e in store.events(task_id) if e.kind == "context_compacted")
    env = {"AGENTRUN_HOME": str(home)}
    shown = json.loads(
        run_agentrun("show", task_id, "--at", str(compacted_at), "--json", env=env).stdout
    )
    assert len(shown["context"]) <= len(shown["messages"])
    assert any("recall(message=" in (m.get("content") or "") for m in shown["context"])
    assert not any("recall(message=" in (m.get("content") or "") for m in shown["messages"])
    assert 0 < shown["context_tokens"] <= MAX_TOKENS
    human = run_agentrun("show", task_id, "--at", str(compacted_at), env=env).stdout
    assert "conversation" in human and "context as the model sees it" in human


def test_summarize_replaces_dropped_turns_by_a_recorded_summary_that_survives_a_kill(
    tmp_path: Path,
) -> None:
    turns = [turn(call("blob", index=n, size=3000)) for n in range(12)] + [turn(content="done")]
    extra = "[context]\nmax_tokens = 2500\nsummarize = true\n"
    states = []
    for name, crash in (("plain", None), ("killed", "after_sync:9")):
        agent = make_agent(tmp_path / name, turns, extra=extra)
        home = tmp_path / name / "home"
        env = {"AGENTRUN_HOME": str(home), **agent.env()}
        crash_env = {"AGENTRUN_CRASH_AT": crash} if crash else {}
        started = run_agentrun(
            "start", "--agent", str(agent.spec), "-q", "g", env={**env, **crash_env}
        )
        task_id = task_ids(home)[0]
        if crash:
            assert started.returncode == -signal.SIGKILL
            resume_until_done(home, agent, task_id)
        else:
            assert started.returncode == 0, started.stderr
        states.append(LocalTaskStore(home).load(task_id).state)
    plain, killed = states
    marker = next(m for m in plain.context_messages() if m.get("marker"))
    assert marker["content"].startswith("[Summary of messages 1 to")
    assert "line of text" in marker["summary"]  # the scripted model's stand-in summary
    events = list(LocalTaskStore(tmp_path / "plain" / "home").events(plain.task_id))
    summaries = [e for e in events if e.kind == "context_compacted" and e.usage]
    assert summaries  # each summary request is recorded with its usage, and counted
    turns_in = sum(e.usage.get("input_tokens", 0) for e in events if e.kind == "model_responded")
    assert plain.input_tokens == turns_in + sum(e.usage["input_tokens"] for e in summaries)

    # The same compactions, with the same summaries, at the same points after a kill.
    # (Event seqs shift with the extra run_started; they are never sent to the model.)
    def sent(state: Any) -> list[dict]:
        return [{k: v for k, v in m.items() if k != "seq"} for m in state.context_messages()]

    assert sent(killed) == sent(plain)
    assert set(killed.compacted) == set(plain.compacted)
