"""Task directories on local disk: log segments, framing, recovery, snapshots, claims.

Uses only ``agentrun.core``. Every file operation goes through ``FileOps`` (test plan F1).
"""
