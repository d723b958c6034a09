from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from agentrun import ToolContext as ExportedContext
from agentrun.tools.context import FileChange, ToolContext, idempotency_key


def test_idempotency_key_follows_rule_26() -> None:
    assert (
        idempotency_key("20261126-0815-k3f9", "call_1-12")
        == "agentrun-20261126-0815-k3f9-call_1-12"
    )


def test_key_is_computed_when_not_given(tmp_path: Path) -> None:
    ctx = ToolContext(task_id="t", call_id="c-3", workspace=tmp_path)
    assert ctx.idempotency_key == "agentrun-t-c-3"
    assert isinstance(ctx.logger, logging.Logger)
    assert not ctx.stop.is_set()


def test_given_key_is_kept_and_workspace_becomes_a_path(tmp_path: Path) -> None:
    ctx = ToolContext(task_id="t", call_id="c", workspace=str(tmp_path), idempotency_key="k")  # type: ignore[arg-type]
    assert ctx.idempotency_key == "k"
    assert ctx.workspace == tmp_path


def test_fields_are_frozen_but_file_changes_grow(tmp_path: Path) -> None:
    ctx = ToolContext(task_id="t", call_id="c", workspace=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.task_id = "other"  # type: ignore[misc]
    ctx.record_file_change("a.txt", None, "ab" * 32, b"x")
    assert ctx.file_changes == [FileChange("a.txt", None, "ab" * 32, b"x")]
    assert ctx.file_changes[0].to_dict()["content"] == b"x"


def test_package_exports_the_context() -> None:
    assert ExportedContext is ToolContext
