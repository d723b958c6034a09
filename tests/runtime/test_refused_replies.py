"""A model reply that was paid for and then refused still counts (design §7 budgets).

An answer cut off at the output limit stops the run resumably; its tokens and price are
recorded with the stop, so ``max_cost_usd`` holds across resumes that keep meeting it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentrun.core.errors import ModelError
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.models.fake_endpoints import FakeEndpoint, openai_stream
from tests.runtime.agents import make_agent

BUDGET = """
[budget]
max_cost_usd = 1.5
[budget.prices]
input_per_mtok = 1.0
output_per_mtok = 2.0
"""


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> FakeEndpoint:
    for name in [k for k in os.environ if "proxy" in k.lower()]:
        monkeypatch.delenv(name)
    with FakeEndpoint() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        yield server


def test_answers_cut_off_at_the_limit_are_paid_and_count_toward_the_cost_cap(
    tmp_path: Path, endpoint: FakeEndpoint
) -> None:
    agent = make_agent(tmp_path / "agent", extra=BUDGET)
    agent.spec.write_text(agent.spec.read_text().replace("scripted:script.json", "openai:fake"))
    # Each reply costs 0.5 + 0.5 = 1 USD and is cut off at the output limit.
    cut = openai_stream("The first half of", finish_reason="length", usage=(500_000, 250_000))
    endpoint.push(cut, cut, cut)
    store = LocalTaskStore(tmp_path / "home")
    task_id = create_task(store, load_spec(agent.spec, SpecOverrides(), cwd=tmp_path), "goal")

    with pytest.raises(ModelError, match="cut off"):
        Runner(store, task_id, SilentReporter()).run()
    state = store.load(task_id).state
    assert (state.input_tokens, state.output_tokens, state.cost_usd) == (500_000, 250_000, 1.0)
    assert state.steps == 0  # nothing was recorded as a turn

    with pytest.raises(ModelError, match="cut off"):
        Runner(store, task_id, SilentReporter()).run()
    assert store.load(task_id).state.cost_usd == 2.0

    stopped = Runner(store, task_id, SilentReporter()).run()
    assert stopped.exit_code == 4 and "max_cost_usd" in stopped.message
    assert endpoint.request_count == 2  # the cap held: no third paid request
