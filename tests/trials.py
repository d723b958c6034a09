"""Trial counts: the CI tier by default, the extended tier for a person before a release.

``AGENTRUN_STRESS=1 python -m pytest -m 'stress or not stress'`` runs every randomized test at
the extended counts of reliability.md's test plan (and the ``stress``-marked tests too).
"""

from __future__ import annotations

import os

IS_STRESS = os.environ.get("AGENTRUN_STRESS") == "1"


def trials(ci: int, extended: int) -> int:
    """``extended`` under ``AGENTRUN_STRESS=1``, else ``ci``."""
    return extended if IS_STRESS else ci
