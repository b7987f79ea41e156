# The unix board's flash: one image file split into two partitions, like the ESP32's
# partition table: a littlefs partition (config; on the ESP32 also the firmware files)
# mounted at /flash, and a raw "journal" partition that firmware/journal.py manages itself.
# Test switches come from the environment (boards/unix_sim/README.md, "Flash").
import os
from micropython import const

from blockdev import Counters, FileBlockDev

BLOCK = const(4096)
LFS_START = const(0)
LFS_BLOCKS = const(128)  # 512 KB
JOURNAL_START = const(128)
JOURNAL_BLOCKS = const(168)  # 168 * 63 records: 10,000 + the journal's reserve + spares
IMAGE_BLOCKS = const(296)
MOUNT_POINT = "/flash"

counters = None  # Counters of the flash mounted last (whole-flash programs / erases)
mount_error = None  # None, or why littlefs did not mount (the pad runs on without it)


def counters_from_env():
    """Counters configured by PAD_TEAR_AT, PAD_TEAR_KEEP, PAD_FLASH_STATS, PAD_FLASH_TRACE."""
    tear = os.getenv("PAD_TEAR_AT")
    keep = os.getenv("PAD_TEAR_KEEP")
    return Counters(int(tear) if tear else 0, int(keep) if keep else None,
                    stats=os.getenv("PAD_FLASH_STATS"), trace=os.getenv("PAD_FLASH_TRACE"))


def partitions(path, ctr=None):
    """(littlefs block device, journal block device) over the image at path."""
    if ctr is None:
        ctr = Counters()
    return (FileBlockDev(path, BLOCK, LFS_START, LFS_BLOCKS, ctr),
            FileBlockDev(path, BLOCK, JOURNAL_START, JOURNAL_BLOCKS, ctr))


def create_image(path):
    """Provisioning only: a new erased image with an empty littlefs; the journal erased."""
    ff = b"\xff" * 512
    with open(path, "wb") as f:
        for _ in range(IMAGE_BLOCKS * BLOCK // 512):
            f.write(ff)
    lfs, journal = partitions(path)
    os.VfsLfs2.mkfs(lfs)
    lfs.close()
    journal.close()


def mount(path=None):
    """Mounts littlefs at /flash, never formatting; returns the journal block device.

    A failed mount is kept in mount_error and the pad runs on with the journal alone:
    the image is only ever formatted by provisioning (create_image).
    """
    global counters, mount_error
    path = path or os.getenv("PAD_FLASH")
    if not path:
        raise ValueError("no flash image: set PAD_FLASH")
    try:
        os.stat(path)
    except OSError:
        raise ValueError("flash image %s missing: provision the pad first" % path)
    counters = counters_from_env()
    lfs, journal = partitions(path, counters)
    try:
        os.umount(MOUNT_POINT)
    except OSError:
        pass
    try:
        os.mount(os.VfsLfs2(lfs), MOUNT_POINT)
        mount_error = None
    except OSError as e:
        mount_error = "littlefs at %s did not mount (%s); running on the journal" % (MOUNT_POINT, e)
    return journal
