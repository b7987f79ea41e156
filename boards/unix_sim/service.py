# The simulator board's service strap (DESIGN 8). On the emulated pad (`padctl emulate`)
# the strap is an option of the emulator, which tells each boot through the environment:
# PAD_SERVICE=1 for a power session started with the strap held (it lasts through soft
# reboots, as a board keeps it in RTC memory), PAD_BOOT=hard at a power-up or hard reset,
# soft at a soft reboot. boot.py and main.py read it; svcmode.py gets the journal from it.
import os


def active():
    """In service mode: the strap was held at the last hard reset."""
    return os.getenv("PAD_SERVICE") == "1"


def first():
    """This boot is the hard reset that started the session (not a soft reboot)."""
    return os.getenv("PAD_BOOT", "hard") == "hard"


def clear():
    """Ends the service session at the next reset (the emulator reads the strap again at
    every hard reset: nothing to do)."""


def journal_dev():
    """The journal partition's block device."""
    from flash import partitions
    return partitions(os.getenv("PAD_FLASH") or "pad-flash.img")[1]


def now():
    """RTC seconds when the RTC is set (the simulator's follows the host), else None."""
    import time
    t = int(time.time())
    return t if t > 1600000000 else None
