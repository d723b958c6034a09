"""Model providers: ``scripted`` (offline), ``openai`` (chat completions) and ``anthropic``.

Uses only ``agentrun.core`` (and httpx, imported only when a network provider is resolved).
Never prints: live text reaches the caller through the ``on_text`` callback.
"""

from __future__ import annotations

from agentrun.models.base import Model, estimate_tokens
from agentrun.models.options import ModelOptions
from agentrun.models.registry import PROVIDERS, resolve_model

__all__ = ["PROVIDERS", "Model", "ModelOptions", "estimate_tokens", "resolve_model"]
