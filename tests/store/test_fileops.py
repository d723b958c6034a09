"""``OsFileOps.allocate``: the zeros the log writer preallocates (rule 13) are really written.

Written zeros, not ``posix_fallocate``'s unwritten extents: an overwrite then commits no
metadata at fdatasync (docs/decisions.md). What a caller relies on: the file grows to exactly
the end of the range, the range reads as zeros, and the data before it is untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentrun.store.fileops import CREATE_FLAGS, WRITER_FLAGS, OsFileOps


def test_allocate_writes_zeros_after_the_data_and_grows_the_file_to_the_range_end(
    tmp_path: Path,
) -> None:
    ops, path = OsFileOps(), str(tmp_path / "segment")
    ops.close(ops.open(path, CREATE_FLAGS))
    fd = ops.open(path, WRITER_FLAGS)
    try:
        os.pwrite(fd, b"data", 0)
        length = 3 * 1024 * 1024 + 5  # more than one call's worth of zeros
        ops.allocate(fd, 4, length)
        assert ops.fstat_size(fd) == 4 + length
    finally:
        ops.close(fd)
    data = Path(path).read_bytes()
    assert data[:4] == b"data"
    assert data[4:] == bytes(length)
    # Real blocks, not a sparse file: the space is the disk's, as posix_fallocate's would be.
    assert os.stat(path).st_blocks * 512 >= length
