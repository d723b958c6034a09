"""``runtime.prune``: a task squashed already is not squashed again, even if a plan names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrun.runtime.prune import plan_prune, prune
from agentrun.store.local import LocalTaskStore
from tests.cli.sample_tasks import finished_task, ledger_env  # noqa: F401
from tests.store.builders import tree_digest

pytestmark = pytest.mark.usefixtures("ledger_env")


def test_a_squashed_task_is_neither_planned_nor_squashed_again(agentrun_home, tmp_path: Path):
    store = LocalTaskStore(agentrun_home)
    task_id = finished_task(agentrun_home, tmp_path)
    first = prune(store, [task_id], squash=True, dry_run=False)
    assert [t["task_id"] for t in first.tasks] == [task_id]
    before = tree_digest(Path(store.task_dir(task_id)))
    # Named all the same (another prune squashed it after this one planned): left alone.
    again = prune(store, [task_id], squash=True, dry_run=False)
    assert again.tasks == [] and again.bytes_freed == 0
    assert tree_digest(Path(store.task_dir(task_id))) == before
    assert plan_prune(store, older_than_s=None, statuses=(), keep=0, squash=True) == []
    assert plan_prune(store, older_than_s=None, statuses=(), keep=0) == [task_id]  # deletable
