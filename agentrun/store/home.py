"""The home directory: where it is, creating it privately, refusing unsafe file systems.

Rule 1: 0700 directories, checked with ``os.stat`` after creation or opening. Rule 22: a home on
a network or FUSE file system is refused unless the user allows it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agentrun.core.errors import NetworkFsError, StorageError
from agentrun.store.fileops import FileOps, OsFileOps

NETWORK_FS_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "lustre", "ceph", "glusterfs")


def default_home() -> Path:
    """``$AGENTRUN_HOME``, else the platform's user data directory for agentrun."""
    env = os.environ.get("AGENTRUN_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("agentrun"))


def ensure_home(home: Path, ops: FileOps | None = None) -> list[str]:
    """Create ``home`` and ``home/tasks`` with mode 0700 if missing; return warnings.

    Both are made through ``ops`` (the F1 seam) and their parents fsynced (rule 2), so a power
    loss right after cannot lose a home that a task was then created in. Directories above the
    home are the user's choice of location and are made with ``os.makedirs`` defaults.
    Raises ``StorageError`` if the home cannot be created.
    """
    ops = ops or OsFileOps()
    warnings: list[str] = []
    try:
        if not home.parent.exists():
            os.makedirs(home.parent, exist_ok=True)
        for path in (home, home / "tasks"):
            if not path.exists():
                try:
                    ops.mkdir(str(path))
                except FileExistsError:
                    continue  # another process made it first
                ops.fsync_dir(str(path.parent))
    except OSError as exc:
        raise StorageError(
            f"cannot create the agentrun home {home}: {exc.strerror or exc}"
        ) from None
    mode = stat.S_IMODE(os.stat(home).st_mode)
    if mode & 0o077:
        warnings.append(
            f"{home} is readable by other users (mode {mode:o}); run `chmod 700 {home}`"
        )
    return warnings


def filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path``, from /proc/self/mountinfo ('' if unknown)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ""
    target = os.path.realpath(path)
    best, best_type = "", ""
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rest = left.split(), right.split()
        if len(parts) < 5 or not rest:
            continue
        mount_point = parts[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, rest[0]
    return best_type


def is_network_fs(fs_type: str) -> bool:
    """Whether a file system type is a network or FUSE one (rule 22)."""
    return fs_type in NETWORK_FS_TYPES or fs_type.startswith("fuse") or fs_type.startswith("nfs")


def check_filesystem(home: Path, *, allow_network_fs: bool) -> list[str]:
    """Refuse a network/FUSE home unless allowed (rule 22); with permission, return a warning."""
    probe = home if home.exists() else home.parent
    fs_type = filesystem_type(probe)
    if not is_network_fs(fs_type):
        return []
    if not allow_network_fs:
        raise NetworkFsError(
            f"the agentrun home {home} is on a {fs_type} file system, where locks and appends are "
            "not reliable; use a local directory, or pass --allow-network-fs to accept the risk"
        )
    return [f"{home} is on {fs_type}: claims and fsync may not be reliable there"]
