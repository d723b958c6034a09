"""The agent spec (design §7): a TOML file plus command-line overrides, checked and resolved.

A resolved spec is a plain map stored in ``task_created``: every later run of the task (resume,
batch) rebuilds the agent from it, so a task keeps its agent even if the file changes.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentrun.core.durations import parse_duration
from agentrun.core.errors import SpecError, UsageError
from agentrun.runtime.budgets import check_cost_cap

BUDGET_KEYS = {
    "max_steps": int,
    "max_tokens": int,
    "max_cost_usd": float,
    "max_time": float,
    "max_attempts": int,
    "prices": dict,
}
TOP_KEYS = {"name", "model", "system", "tools", "workspace", "budget", "context", "policy"}
TOP_KEYS |= {"outcome", "fsync", "base_url"}
# Providers that reach a model over HTTP: the only ones a base URL means anything to.
NETWORK_PROVIDERS = ("openai", "anthropic")
PRICE_KEYS = {"input_per_mtok", "output_per_mtok"}
ON_UNKNOWN = ("stop", "retry", "skip")
FSYNC_POLICIES = ("always", "batch")
DEFAULT_MAX_ATTEMPTS = 5
# A value's kind as the error names it, in TOML's words and with its article ("an integer").
KIND_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a table"}
MAX_TIME_KIND = 'a duration such as "2h" or a number of seconds'


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent as resolved: absolute paths, durations in seconds, defaults filled in."""

    name: str
    model: str
    system: str = ""
    tools: tuple[str, ...] = ()
    workspace: str = "."
    base_dir: str = "."
    budget: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    on_unknown: str = "stop"
    approve: tuple[str, ...] = ()
    check: str | None = None
    fsync: str = "always"
    # The model endpoint, kept with the task so a resume or a batch run talks to the same one.
    base_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The map stored in ``task_created`` (msgpack-ready)."""
        endpoint = {"base_url": self.base_url} if self.base_url else {}
        return {
            "name": self.name,
            "model": self.model,
            "system": self.system,
            "tools": list(self.tools),
            "workspace": self.workspace,
            "base_dir": self.base_dir,
            "budget": dict(self.budget),
            "context": dict(self.context),
            "policy": {"on_unknown": self.on_unknown, "approve": list(self.approve)},
            "outcome": {"check": self.check},
            "fsync": self.fsync,
            **endpoint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        """Rebuild a spec from ``to_dict`` output (as stored in a task)."""
        policy = data.get("policy") or {}
        return cls(
            name=data.get("name", ""),
            model=data["model"],
            system=data.get("system", ""),
            tools=tuple(data.get("tools") or ()),
            workspace=data.get("workspace", "."),
            base_dir=data.get("base_dir", "."),
            budget=dict(data.get("budget") or {}),
            context=dict(data.get("context") or {}),
            on_unknown=policy.get("on_unknown", "stop"),
            approve=tuple(policy.get("approve") or ()),
            check=(data.get("outcome") or {}).get("check"),
            fsync=data.get("fsync", "always"),
            base_url=data.get("base_url"),
        )


@dataclass(frozen=True, slots=True)
class SpecOverrides:
    """Fields given on the command line; each replaces the file's value when set."""

    model: str | None = None
    system: str | None = None
    tools: tuple[str, ...] = ()
    workspace: str | None = None
    name: str | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    approve: tuple[str, ...] = ()
    on_unknown: str | None = None
    check: str | None = None
    fsync: str | None = None
    base_url: str | None = None


def load_spec(path: Path | None, overrides: SpecOverrides, *, cwd: Path) -> AgentSpec:
    """Read an agent file (if any), apply overrides, validate; raises ``SpecError`` saying what."""
    raw: dict[str, Any] = {}
    base_dir = cwd
    where = "the command line"
    if path is not None:
        where = str(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"agent file {path} does not exist") from None
        except OSError as exc:
            raise SpecError(f"cannot read agent file {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"agent file {path} is not valid TOML: {exc}") from None
        base_dir = path.resolve().parent
    spec = _from_raw(raw, where, base_dir)
    return _apply(spec, overrides, cwd)


def _from_raw(raw: dict[str, Any], where: str, base_dir: Path) -> AgentSpec:
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _unknown_key(where, unknown[0], None, TOP_KEYS)
    model = _typed(raw, "model", str, where, "")
    tools = raw.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise SpecError(f"{where}: 'tools' must be a list of strings")
    policy = _table(raw, "policy", where, {"on_unknown", "approve"})
    approve = policy.get("approve", [])
    if not isinstance(approve, list) or not all(isinstance(t, str) for t in approve):
        raise SpecError(f"{where}: [policy] approve must be a list of tool names")
    outcome = _table(raw, "outcome", where, {"check"})
    context = _table(raw, "context", where, {"max_tokens", "tool_output_tokens", "summarize"})
    for key in ("max_tokens", "tool_output_tokens"):
        value = context.get(key)
        if value is not None and (type(value) is not int or value <= 0):
            raise SpecError(f"{where}: [context] {key} must be a positive integer")
    if not isinstance(context.get("summarize", False), bool):
        raise SpecError(f"{where}: [context] summarize must be true or false")
    workspace = _typed(raw, "workspace", str, where, ".")
    return AgentSpec(
        name=_typed(raw, "name", str, where, ""),
        model=model,
        system=_typed(raw, "system", str, where, ""),
        tools=tuple(tools),
        workspace=str((base_dir / workspace).resolve()),
        base_dir=str(base_dir),
        budget=parse_budget(_table(raw, "budget", where, set(BUDGET_KEYS)), where),
        context=context,
        on_unknown=_choice(
            policy.get("on_unknown", "stop"), ON_UNKNOWN, f"{where}: [policy] on_unknown"
        ),
        approve=tuple(approve),
        check=_typed(outcome, "check", str, where, None),
        fsync=_choice(
            _typed(raw, "fsync", str, where, "always"), FSYNC_POLICIES, f"{where}: fsync"
        ),
        base_url=storable_base_url(_typed(raw, "base_url", str, where, None), f"{where}: base_url"),
    )


def _apply(spec: AgentSpec, o: SpecOverrides, cwd: Path) -> AgentSpec:
    changes: dict[str, Any] = {}
    if o.model:
        changes["model"] = o.model
    if o.system is not None:
        changes["system"] = o.system
    if o.tools:
        changes["tools"] = tuple(o.tools)
    if o.workspace:
        changes["workspace"] = str((cwd / o.workspace).resolve())
    if o.name:
        changes["name"] = o.name
    if o.budget:
        changes["budget"] = {**spec.budget, **parse_budget(o.budget, "the command line")}
    if o.approve:
        changes["approve"] = tuple(o.approve)
    if o.on_unknown:
        changes["on_unknown"] = _choice(o.on_unknown, ON_UNKNOWN, "--on-unknown")
    if o.check:
        changes["check"] = o.check
    if o.fsync:
        changes["fsync"] = _choice(o.fsync, FSYNC_POLICIES, "--fsync")
    if o.base_url:
        changes["base_url"] = storable_base_url(o.base_url, "--base-url")
    elif o.model and o.model.split(":", 1)[0].strip().lower() not in NETWORK_PROVIDERS:
        changes["base_url"] = None  # e.g. a fork onto a scripted model: no endpoint to keep
    spec = replace(spec, **changes)
    if not spec.model:
        raise SpecError('no model: set `model = "provider:name"` in the agent file or pass --model')
    if ":" not in spec.model:
        raise SpecError(f"model {spec.model!r} must be provider:name, e.g. scripted:script.toml")
    provider = spec.model.split(":", 1)[0].strip().lower()
    if spec.base_url and provider not in NETWORK_PROVIDERS:
        raise SpecError(
            f"a base URL is for {' and '.join(f'{p}:' for p in NETWORK_PROVIDERS)} models, not "
            f"{provider}:; remove base_url or --base-url"
        )
    if not spec.name:
        spec = replace(spec, name=Path(spec.workspace).name or "agent")
    check_cost_cap(spec.budget, "the agent's budget")
    return spec


def parse_budget(table: dict[str, Any], where: str) -> dict[str, Any]:
    budget: dict[str, Any] = {}
    for key, value in table.items():
        if key not in BUDGET_KEYS:
            raise _unknown_key(where, key, "budget", set(BUDGET_KEYS))
        if key == "max_time" and isinstance(value, str):
            try:
                value = parse_duration(value)
            except UsageError as exc:
                raise SpecError(f"{where}: [budget] max_time: {exc}") from None
        wanted = BUDGET_KEYS[key]
        ok = isinstance(value, wanted) or (wanted is float and isinstance(value, int))
        if not ok or isinstance(value, bool):
            kind = MAX_TIME_KIND if key == "max_time" else KIND_NAMES[wanted]
            raise SpecError(f"{where}: [budget] {key} must be {kind}")
        if key != "prices" and not (math.isfinite(value) and value > 0):  # NaN fails both
            raise SpecError(f"{where}: [budget] {key} must be a positive number, not {value}")
        budget[key] = float(value) if wanted is float else value
    if "prices" in budget:
        prices = budget["prices"]
        for key, price in prices.items():
            if key not in PRICE_KEYS:
                raise _unknown_key(where, key, "budget.prices", PRICE_KEYS)
            number = isinstance(price, int | float) and not isinstance(price, bool)
            if not (number and math.isfinite(price) and price >= 0):
                raise SpecError(
                    f"{where}: [budget.prices] {key} must be a number of US dollars, 0 or more"
                )
    return budget


def check_approve(spec: AgentSpec, tool_names: list[str]) -> None:
    """Refuse a name in ``[policy] approve`` that is no tool of the agent: a misspelt name
    would quietly let the tool it meant run without asking."""
    for name in spec.approve:
        if name not in tool_names:
            raise SpecError(
                f"[policy] approve names {name!r}, which is not a tool of this agent; its tools: "
                f"{', '.join(tool_names)} (a toolset's tools are named one by one)"
            )


def storable_base_url(url: str | None, where: str) -> str | None:
    """A model endpoint fit to be stored with a task: http(s), no credentials, no trailing slash.

    A user and password in the URL would be written to the task's log with it; the key belongs
    in the provider's key variable, which is never stored. ``SpecError`` saying which.
    """
    if url is None:
        return None
    shown = re.sub(r"(?<=://)[^/\s@]+@", "[redacted]@", url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not in a later run
    except ValueError:
        raise SpecError(
            f"{where}: {shown!r} is not a valid URL (check the host and port)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise SpecError(f"{where}: {shown!r} is not an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise SpecError(
            f"{where}: the URL carries a user or password, which would be stored with the task; "
            "give the key in OPENAI_API_KEY or ANTHROPIC_API_KEY instead"
        )
    return url.rstrip("/")


def _table(raw: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{where}: [{key}] must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _unknown_key(where, unknown[0], key, allowed)
    return value


def _unknown_key(where: str, key: str, table: str | None, known: set[str]) -> SpecError:
    """The error for a key the spec does not know, listing the keys it does know."""
    inside = f" in [{table}]" if table is not None else ""
    return SpecError(
        f"{where}: unknown key {key!r}{inside}; known keys: {', '.join(sorted(known))}"
    )


def _typed(raw: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = raw.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise SpecError(f"{where}: {key!r} must be {KIND_NAMES[kind]}")
    return value


def _choice(value: Any, options: tuple[str, ...], where: str) -> str:
    if value not in options:
        raise SpecError(f"{where} must be one of {', '.join(options)}, not {value!r}")
    return str(value)
