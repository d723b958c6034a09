"""The agent spec: the model endpoint is kept with the task (design §6, §7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrun.core.errors import SpecError
from agentrun.runtime.spec import AgentSpec, SpecOverrides, load_spec


def write_agent(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'model = "openai:m"\n{body}')
    return path


def test_an_agent_file_base_url_is_kept_with_the_spec_and_the_command_line_wins(tmp_path):
    path = write_agent(tmp_path, 'base_url = "http://127.0.0.1:8080/v1/"\n')
    spec = load_spec(path, SpecOverrides(), cwd=tmp_path)
    assert spec.base_url == "http://127.0.0.1:8080/v1"
    assert AgentSpec.from_dict(spec.to_dict()) == spec
    given = load_spec(path, SpecOverrides(base_url="https://llm.local/v1"), cwd=tmp_path)
    assert given.base_url == "https://llm.local/v1"


def test_a_spec_without_an_endpoint_stores_none(tmp_path):
    spec = load_spec(write_agent(tmp_path, ""), SpecOverrides(), cwd=tmp_path)
    assert spec.base_url is None and "base_url" not in spec.to_dict()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("localhost:11434/v1", "is not an http:// or https:// URL"),
        ("https://user:secret@llm.local/v1", "carries a user or password"),
        ("http://127.0.0.1:abc/v1", "is not a valid URL"),
        ("http://[::1/v1", "is not a valid URL"),
    ],
)
def test_an_endpoint_that_cannot_be_kept_is_refused(tmp_path, url, says):
    with pytest.raises(SpecError, match=says) as caught:
        load_spec(write_agent(tmp_path, f'base_url = "{url}"\n'), SpecOverrides(), cwd=tmp_path)
    assert "secret" not in str(caught.value)


def test_the_provider_of_a_model_with_an_endpoint_is_read_as_the_registry_reads_it(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('model = "OpenAI:gpt-4o"\nbase_url = "http://127.0.0.1:8080/v1"\n')
    assert load_spec(path, SpecOverrides(), cwd=tmp_path).base_url == "http://127.0.0.1:8080/v1"


def test_a_scripted_model_given_over_an_agent_with_an_endpoint_drops_the_endpoint(tmp_path):
    # e.g. `fork --model scripted:…` of a task that talked to a server
    path = write_agent(tmp_path, 'base_url = "http://127.0.0.1:8080/v1"\n')
    (tmp_path / "s.json").write_text('{"turns": [{"content": "hi"}]}')
    spec = load_spec(path, SpecOverrides(model="scripted:s.json"), cwd=tmp_path)
    assert (spec.model, spec.base_url) == ("scripted:s.json", None)
