"""Model specs: turn ``provider:model`` into a ``Model``.

Provider modules are imported only when their provider is asked for, so the CLI starts fast
and httpx is needed only for the network providers (the ``agentrun[net]`` extra).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agentrun.core.errors import SpecError
from agentrun.models.base import Model
from agentrun.models.options import ModelOptions

PROVIDERS = ("scripted", "openai", "anthropic")
_EXAMPLES = "openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5 or scripted:script.toml"


def resolve_model(spec: str, *, base_dir: Path, options: ModelOptions | None = None) -> Model:
    """The model named by ``spec`` (``provider:model``; the model part may contain colons).

    ``scripted:PATH`` reads PATH relative to ``base_dir`` and validates the script now, so a
    bad script fails before any task starts. Raises ``SpecError`` for a malformed spec, an
    unknown provider, a bad script or base URL, or a network provider without httpx.
    """
    provider, name = _parse(spec)
    options = options or ModelOptions()
    if provider == "scripted":
        from agentrun.models.scripted import ScriptedModel

        model = ScriptedModel(name=f"scripted:{name}", path=base_dir / name, options=options)
        model.load()
        return model
    try:
        if provider == "openai":
            from agentrun.models.openai import OpenAIModel

            return OpenAIModel(name, options)
        from agentrun.models.anthropic import AnthropicModel

        return AnthropicModel(name, options)
    except ModuleNotFoundError as exc:
        if exc.name != "httpx":
            raise
        raise SpecError(
            f"the {provider} provider needs httpx; install it with: pip install 'agentrun[net]'"
        ) from None


def check_model(spec: str, *, base_dir: Path) -> None:
    """Refuse now what ``resolve_model`` would refuse when the task runs, without a network call.

    The spec's form, its provider, a scripted model's script, httpx for a network provider.
    Keys and endpoints are not checked: a task may be submitted where they are not set and run
    by ``batch`` where they are. Raises ``SpecError``.
    """
    provider, _name = _parse(spec)
    if provider == "scripted":
        resolve_model(spec, base_dir=base_dir)
    elif importlib.util.find_spec("httpx") is None:
        raise SpecError(
            f"the {provider} provider needs httpx; install it with: pip install 'agentrun[net]'"
        )


def _parse(spec: str) -> tuple[str, str]:
    provider, sep, name = spec.strip().partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if not sep or not provider:
        raise SpecError(f"model {spec!r} is not of the form provider:model, e.g. {_EXAMPLES}")
    if provider not in PROVIDERS:
        raise SpecError(
            f"unknown model provider {provider!r} in {spec!r}; use one of {', '.join(PROVIDERS)}"
        )
    if not name:
        raise SpecError(f"model {spec!r} names no model after '{provider}:', e.g. {_EXAMPLES}")
    return provider, name
