"""Resolving ``provider:model`` specs into models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.core.errors import SpecError
from agentrun.models import Model, ModelOptions, resolve_model
from agentrun.models.anthropic import AnthropicModel
from agentrun.models.openai import OpenAIModel
from agentrun.models.scripted import ScriptedModel


def write_script(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"turns": [{"content": "hi"}]}))
    return path


def test_scripted_path_is_relative_to_base_dir(tmp_path: Path) -> None:
    write_script(tmp_path / "agents" / "script.json")

    model = resolve_model("scripted:script.json", base_dir=tmp_path / "agents")

    assert isinstance(model, ScriptedModel)
    assert isinstance(model, Model)
    assert model.name == "scripted:script.json"
    assert model.path == tmp_path / "agents" / "script.json"


def test_scripted_absolute_path(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json")

    model = resolve_model(f"scripted:{script}", base_dir=Path("/nonexistent"))

    assert isinstance(model, ScriptedModel) and model.path == script


def test_scripted_script_is_validated_at_resolve_time(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        resolve_model("scripted:missing.toml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("spec", "kind", "model_name"),
    [
        ("openai:gpt-4.1-mini", OpenAIModel, "gpt-4.1-mini"),
        ("openai:llama3.1:8b", OpenAIModel, "llama3.1:8b"),
        (" OpenAI : qwen2.5-coder ", OpenAIModel, "qwen2.5-coder"),
        ("anthropic:claude-sonnet-4-5", AnthropicModel, "claude-sonnet-4-5"),
    ],
)
def test_network_providers(tmp_path: Path, spec: str, kind: type, model_name: str) -> None:
    model = resolve_model(spec, base_dir=tmp_path)

    assert isinstance(model, kind)
    assert isinstance(model, Model)
    assert model.model == model_name  # type: ignore[attr-defined]
    assert model.name.endswith(f":{model_name}")


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "not of the form provider:model"),
        ("gpt-4.1-mini", "not of the form provider:model"),
        (":gpt-4", "not of the form provider:model"),
        ("openai:", "names no model"),
        ("openai:   ", "names no model"),
        ("gemini:pro", "unknown model provider 'gemini'"),
    ],
)
def test_bad_specs_are_spec_errors(tmp_path: Path, spec: str, complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint):
        resolve_model(spec, base_dir=tmp_path)


def test_bad_base_url_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="OPENAI_BASE_URL"):
        resolve_model("openai:m", base_dir=tmp_path, options=ModelOptions(base_url="localhost:1"))


def test_options_repr_hides_the_key() -> None:
    options = ModelOptions(api_key="sk-very-secret-key-123456")

    assert "sk-very-secret" not in repr(options)
    assert "sk-very-secret" not in repr(OpenAIModel("m", options))
    assert "sk-very-secret" not in repr(AnthropicModel("m", options))


def test_scripted_models_do_not_import_httpx(tmp_path: Path) -> None:
    # The CLI must start fast and work without the [net] extra when no network model is used.
    script = write_script(tmp_path / "s.json")
    code = (
        "import sys; from pathlib import Path; from agentrun.models import resolve_model; "
        f"resolve_model('scripted:{script.name}', base_dir=Path({str(tmp_path)!r})); "
        "print('httpx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"
