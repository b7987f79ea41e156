# The unix board's flash: one image file split into two partitions, like the ESP32's
# partition table: blocks 0-127 a littlefs partition (config; on the ESP32 also the firmware
# files) mounted at /flash, blocks 128-295 a raw "journal" partition that
# firmware/journal.py manages itself; 4 KB blocks.  Test switches come from the environment
# (boards/unix_sim/README.md, "Flash").  The board drops this module once mounted.
import os
from micropython import const

from blockdev import Counters, FileBlockDev

_LFS_BLOCKS = const(128)  # 512 KB
_JOURNAL_BLOCKS = const(168)  # 168 * 63 records: 10,000 + the journal's reserve + spares
MOUNT_POINT = "/flash"


def partitions(path, counters=None):
    """(littlefs block device, journal block device) over the image at path."""
    c = counters or Counters()
    return (FileBlockDev(path, 4096, 0, _LFS_BLOCKS, c),
            FileBlockDev(path, 4096, _LFS_BLOCKS, _JOURNAL_BLOCKS, c))


def create_image(path):
    """Provisioning only: a new erased image with an empty littlefs; the journal erased."""
    with open(path, "wb") as f:
        for _ in range((_LFS_BLOCKS + _JOURNAL_BLOCKS) * 8):
            f.write(b"\xff" * 512)
    os.VfsLfs2.mkfs(partitions(path)[0])


def mount(path):
    """Mounts littlefs at /flash, never formatting; returns the journal block device: its
    .counters count the whole flash's operations, its .mount_error is None or the OSError
    of a littlefs that did not mount (the pad runs on with the journal alone: the image is
    only ever formatted by provisioning, create_image).  The test switches PAD_TEAR_AT,
    PAD_TEAR_KEEP and PAD_FLASH_STATS set up the counters."""
    try:
        os.stat(path)
    except OSError:
        raise ValueError("no flash image %r" % path)  # provision the pad first
    keep, stats = os.getenv("PAD_TEAR_KEEP"), os.getenv("PAD_FLASH_STATS")
    if stats:  # the totals so far, then the file is rewritten in place at every operation
        open(stats, "ab").close()
        stats = open(stats, "r+b")
    lfs, journal = partitions(path, Counters(int(os.getenv("PAD_TEAR_AT") or 0),
                                             keep and int(keep), None, stats,
                                             stats and list(map(int, stats.read().split()))))
    journal.mount_error = None
    try:
        os.mount(os.VfsLfs2(lfs), MOUNT_POINT)
    except OSError as e:
        journal.mount_error = e
    return journal
