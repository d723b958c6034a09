"""Every example runs offline: the scripted demo as is, the endpoint example against a fake server.

The demo is also killed inside its side effect's crash window and resumed, as the README shows:
``reconcile`` settles the call and the note is posted once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tomllib
from pathlib import Path

from tests.conftest import run_agentrun
from tests.models.fake_endpoints import FakeEndpoint, openai_stream

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def copy_examples(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


def outbox(example_dir: Path) -> list[dict]:
    path = example_dir / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_offline_demo_tidies_the_inbox_and_posts_once(tmp_path: Path) -> None:
    demo = copy_examples(tmp_path) / "demo"
    result = run_agentrun("start", "--agent", str(demo / "agent.toml"), "Tidy the inbox")
    assert result.returncode == 0, result.stderr
    task_id, answer = result.stdout.splitlines()[:2]
    assert answer.startswith("Moved 3 open items")
    assert "status: processed" in (demo / "workspace" / "inbox.md").read_text()
    assert (demo / "workspace" / "todo.md").read_text().count("- [ ]") == 3
    assert len(outbox(demo)) == 1
    assert outbox(demo)[0]["idempotency_key"].startswith(f"agentrun-{task_id}-")


def test_the_demo_killed_inside_its_side_effect_resumes_without_posting_twice(
    tmp_path: Path,
) -> None:
    demo = copy_examples(tmp_path) / "demo"
    # post_note is the fifth tool call; die after it ran, before its result was recorded.
    env = {"AGENTRUN_CRASH_AT": "during_tool:5"}
    killed = run_agentrun("start", "--agent", str(demo / "agent.toml"), "Tidy", env=env)
    assert killed.returncode == -signal.SIGKILL
    task_id = killed.stdout.splitlines()[0]
    assert len(outbox(demo)) == 1
    resumed = run_agentrun("resume", task_id)
    assert resumed.returncode == 0, resumed.stderr
    assert len(outbox(demo)) == 1  # reconcile found the note; it was not posted again
    shown = json.loads(run_agentrun("show", task_id, "--json").stdout)
    assert shown["status"] == "succeeded"


def test_the_endpoint_example_runs_against_an_openai_compatible_server(tmp_path: Path) -> None:
    examples = copy_examples(tmp_path)
    script = tomllib.loads((examples / "demo" / "script.toml").read_text())
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with FakeEndpoint() as server:
        for number, turn in enumerate(script["turns"]):
            calls = [(c["name"], json.dumps(c["arguments"])) for c in turn.get("tool_calls", [])]
            server.push(openai_stream(turn.get("content", ""), calls, model=f"llama-{number}"))
        env = {**clean, "OPENAI_BASE_URL": server.url + "/v1", "NO_PROXY": "127.0.0.1"}
        result = run_agentrun(
            "start", "--agent", str(examples / "ollama" / "agent.toml"), "Tidy", env=env
        )
        assert result.returncode == 0, result.stderr
        assert server.request_count == len(script["turns"])
        first = server.requests[0].json()
        assert first["model"] == "llama3.1"
        assert {t["function"]["name"] for t in first["tools"]} >= {"read_file", "post_note"}
    assert len(outbox(examples / "ollama")) == 1
