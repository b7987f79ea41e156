# The ESP32 pad's service strap (DESIGN 8), the one place that decides the mode (boot.py
# and the root main.py ask active(); svcmode.py gets the journal and the config from here).
# The strap is the BOOT button (GPIO0, low when pressed; pins.SERVICE_STRAP). GPIO0 is also
# the chip's boot-mode strap: held while the chip leaves reset it starts the ROM serial
# bootloader (esptool's), not MicroPython. So "held at reset" means: press and release EN,
# then at once press BOOT and hold it until the console prints "PIN pad service mode".
# After a power-up or an EN press (machine.PWRON_RESET) the strap is watched for
# STRAP_MS; after the pad's own restarts (machine.reset(): HARD_RESET, a watchdog:
# WDT_RESET) it is read once (a link-first restart costs no wait).
#
# The session lasts through soft reboots (Ctrl-D, mpremote's): machine.reset_cause() is
# SOFT_RESET then, and the mode is kept in RTC memory, which a soft reboot and
# machine.reset() keep and a power cut loses: byte 0 "S" (53) in front of what the app
# keeps there for its next boot (board.rtc(): "" or "L"/"N" and counts, protocol.md 9.5),
# which is restored when the session ends, so the app never sees the "S".
# In normal mode the module is dropped by main.py once it has answered: not resident.
# It lives at the root of the filesystem (service.mpy, outside the version folders) and
# must work on a pad with no firmware: it imports nothing of the version folder, so the
# strap's pin and the partition's and config's names are here (the same as pins.py's:
# tests/test_esp32_service.py checks).
import machine
from micropython import const

SERVICE_STRAP = const(0)  # GPIO0, the BOOT button: low when pressed
STRAP_MS = 500  # watched this long after a power-up / EN press
JOURNAL_PARTITION = "journal"  # partitions.csv
CONFIG_PATH = "/config.json"  # on the vfs mounted at /

_on = None  # this boot's answer (boot.py and main.py ask in the same boot)


def first():
    """This boot is the hard reset that started the session (not a soft reboot)."""
    return machine.reset_cause() != machine.SOFT_RESET


def _strap():
    import time
    pin = machine.Pin(SERVICE_STRAP, machine.Pin.IN, machine.Pin.PULL_UP)
    if machine.reset_cause() == machine.PWRON_RESET:  # a person pressed EN (or power-up)
        end = time.ticks_add(time.ticks_ms(), STRAP_MS)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            if not pin.value():
                return True
            time.sleep_ms(10)
    return not pin.value()


def active():
    """In service mode: the strap was held at the last hard reset (kept over soft
    reboots in RTC memory)."""
    global _on
    if _on is None:
        r = machine.RTC()
        m = bytes(r.memory())
        held = m[:1] == b"S"
        if not first():
            _on = held
        else:
            _on = _strap()
            if _on and not held:
                r.memory(b"S" + m[:63])
            elif held and not _on:  # a session that ended without clear(): the app's bytes
                r.memory(m[1:])
    return _on


def clear():
    """Ends the service session: the next boot (a reset) reads the strap again and the
    app gets back what it kept in RTC memory."""
    global _on
    r = machine.RTC()
    m = bytes(r.memory())
    if m[:1] == b"S":
        r.memory(m[1:])
    _on = None


def journal_dev():
    """The journal partition (partitions.csv), an esp32.Partition, as board.py finds it."""
    import esp32
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=JOURNAL_PARTITION)
    if not found:
        raise OSError("no %s partition" % JOURNAL_PARTITION)
    return found[0]


def config_path():
    """Where the board keeps config.json (the vfs is mounted at / on the ESP32)."""
    return CONFIG_PATH


def now():
    """RTC seconds (Unix) when the RTC is set, else None (as board.Board.now)."""
    import time
    t = int(time.time()) + (946684800 if time.gmtime(0)[0] == 2000 else 0)
    return t if t > 1600000000 else None
