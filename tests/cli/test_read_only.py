"""Readers change nothing (INV-RO, rule 17), and their input errors are one line with exit 2."""

from __future__ import annotations

import pytest

from tests.cli.sample_tasks import (
    finished_task,
    in_doubt_task,
    interrupted_task,
    ledger_env,  # noqa: F401
    needs_attention_task,
)
from tests.store.builders import tree_digest

pytestmark = pytest.mark.usefixtures("ledger_env")

READS = [
    ("ls",),
    ("ls", "--json"),
    ("ls", "--status", "interrupted", "--limit", "1"),
    ("show", "sample"),
    ("show", "sample", "--json"),
    ("show", "crashed", "--json"),
    ("show", "sample", "--at", "10"),
    ("show", "sample", "--at", "10", "--json"),
    ("log", "sample"),
    ("log", "sample", "--json"),
    ("log", "sample", "--full"),
    ("log", "sample", "--kind", "tool_completed", "--from", "3", "--to", "20"),
    ("log", "--grep", "charged"),
    ("log", "--grep", "charged", "--json"),
    ("log", "sample", "--follow"),
    ("log", "crashed", "--follow", "--json"),
    ("log", "waiting", "--follow"),
    ("diff", "sample"),
    ("diff", "sample", "--from", "4", "--to", "20", "--json"),
    ("diff", "sample", "waiting"),
    ("diff", "sample", "in-doubt", "--json"),
    ("stats",),
    ("stats", "--since", "7d", "--json"),
    ("export", "sample"),
    ("export", "sample", "--inline-blobs"),
]


@pytest.fixture
def home(agentrun_home, tmp_path):
    finished_task(agentrun_home, tmp_path)
    needs_attention_task(agentrun_home, tmp_path)
    interrupted_task(agentrun_home, tmp_path)
    in_doubt_task(agentrun_home, tmp_path)
    (agentrun_home / "tasks" / "crashed" / "summary").unlink(missing_ok=True)  # rebuilt in memory
    return agentrun_home


def test_every_read_command_leaves_the_home_byte_for_byte_unchanged(cli, home):
    before = tree_digest(home)
    for args in READS:
        result = cli(*args)
        assert result.code == 0, (args, result.err)
        assert tree_digest(home) == before, args


@pytest.mark.parametrize(
    "args",
    [
        ("show", "nope"),
        ("log", "nope"),
        ("diff", "nope"),
        ("diff", "sample", "nope"),
        ("export", "nope"),
        ("fork", "nope", "--at", "3"),
        ("show", "sample", "--at", "999"),
        ("show", "sample", "--at", "0"),
        ("show", "sample", "--at", "-1"),
        ("log", "sample", "--from", "999"),
        ("log", "sample", "--to", "999"),
        ("log", "sample", "--from", "-2"),
        ("log", "sample", "--from", "9", "--to", "3"),
        ("log", "sample", "--kind", "no_such_kind"),
        ("diff", "sample", "--to", "999"),
        ("diff", "sample", "--from", "-1"),
        ("fork", "sample", "--at", "999"),
        ("fork", "sample", "--at", "-1"),
        ("stats", "--since", "7x"),
        ("stats", "--since", "last week"),
        ("ls", "--limit", "0"),
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(cli, agentrun_home, tmp_path, args):
    finished_task(agentrun_home, tmp_path)
    before = tree_digest(agentrun_home)
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith("error: ")
    assert tree_digest(agentrun_home) == before
