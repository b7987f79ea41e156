# Factory provisioning of a simulated pad: a new flash image with an empty littlefs,
# /flash/config.json, and a new journal epoch. The ONLY code that formats the flash.
# usage: micropython provision.py IMAGE CONFIG_JSON EPOCH
import json
import os
import sys

import flash
import journal


def provision(path, cfg, epoch):
    flash.create_image(path)
    jdev = flash.mount(path)
    with open(flash.MOUNT_POINT + "/config.json", "w") as f:
        json.dump(cfg, f)
    journal.Journal.format(jdev, epoch)
    os.umount(flash.MOUNT_POINT)


if __name__ == "__main__":
    provision(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]))
    print("provisioned", sys.argv[1])
