"""How the benchmarks start their child processes.

Children run as an installed agentrun runs: with bytecode caching. This checkout's environment
may set ``PYTHONDONTWRITEBYTECODE=1`` (then every cold start compiles agentrun's modules from
source); the children get it removed and ``PYTHONPYCACHEPREFIX`` pointed at a cache of the
benchmark's own, so nothing is written into the source tree. ``bench.cli_latency`` also reports
``--help`` without the cache. The repository is put on ``PYTHONPATH`` so that children can
import ``bench`` from any working directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYCACHE = Path(tempfile.gettempdir()) / "agentrun-bench-pycache"


def child_env(extra: dict[str, str] | None = None, *, bytecode: bool = True) -> dict[str, str]:
    """The environment of a benchmark's child process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    env.update(extra or {})
    return env


def agentrun_argv() -> list[str]:
    """The console script next to this interpreter (what users run), else ``python -m``."""
    script = Path(sys.executable).with_name("agentrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentrun"]
