# Factory provisioning of a simulated pad: a new flash image with an empty littlefs,
# /flash/config.json, and a new journal epoch. The ONLY code that formats the flash.
# usage: micropython provision.py IMAGE CONFIG_JSON [EPOCH]
#
# The journal epoch only grows (DESIGN 6, protocol.md 8.2): a pad provisioned before gets
# the epoch after the one its journal holds (or EPOCH when that is higher), a new image
# epoch 1 (or EPOCH). The new epoch's first record is PROVISION naming the epoch before,
# so the host tells a re-provisioning from a rollback.
import json
import os
import struct
import sys
from binascii import unhexlify

import time

import flash
import journal


class _Clock:
    def now(self):  # as the board's: RTC seconds (the host's clock on the simulator)
        t = int(time.time())
        return t if t > 1600000000 else None


def held_epoch(path):
    """The epoch of the journal on the image at path (0: no image). Opening it may
    journal what it finds (a cut, tampering): harmless, the image is made anew next."""
    try:
        os.stat(path)
    except OSError:
        return 0
    return journal.Journal(flash.partitions(path)[1]).epoch


def provision(path, cfg, epoch=0):
    before = held_epoch(path)
    epoch = max(epoch, before + 1)
    flash.create_image(path)
    jdev = flash.mount(path)
    with open(flash.MOUNT_POINT + "/config.json", "w") as f:
        json.dump(cfg, f)
    journal.Journal.format(jdev, epoch)
    mac = None
    if cfg.get("link_key"):
        from kdf import Keys
        mac = Keys(unhexlify(cfg["link_key"]), unhexlify(cfg["pad_id"])).journal_mac
    journal.Journal(jdev, clock=_Clock(), mac=mac).append(  # PROVISION (20: journal.py)
        20, None, struct.pack(">I", before))
    os.umount(flash.MOUNT_POINT)
    return epoch


if __name__ == "__main__":
    e = provision(sys.argv[1], json.loads(sys.argv[2]),
                  int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print("provisioned", sys.argv[1], "epoch", e)
