# The unix-port simulator board: every peripheral is a loopback TCP connection to the
# simulated world (host_tools/padctl/sim.py), the flash a file (flash.py), the host link
# this process's stdin/stdout. Addresses and test switches come from the environment
# (README.md).
import os
import select
import socket
import sys
import time

from errors import CardRemoved, NoCard, Timeout

NAME = "unix_sim"
# exit status 75 means "reset me" to the simulated world, 78 the same into a link-first
# boot (RTC memory on a real pad): reset()


def _env(name, default=None):
    v = os.getenv(name)
    return v if v else default


def _connect(spec):
    host, port = spec.rsplit(":", 1)
    s = socket.socket()
    try:
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    except OSError:
        s.close()
        raise
    return s


class SocketSlot:
    """An ISO 7816 contact slot: one TCP connection is one activation of the card.
    detect: the card-detect switch (`host:port`; the ESP32 board's card-detect pin)."""

    def __init__(self, spec, name, detect=None):
        self.spec = spec
        self.name = name
        self.sock = None
        self.poll = select.poll()
        self.buf = bytearray(64)
        self.i = self.n = 0
        self.switch = detect  # the card-detect switch: its address, then (pollable()) its
        self.inserted = True  # socket; without one the pad asks by activating

    def pollable(self):
        """The card-detect switch (protocol.md 7.1), readable when the slot changed, then
        read by changed(); None without one. Connected at the first call (the wait loop's,
        after the boot's large allocations)."""
        d = self.switch
        if isinstance(d, str):
            try:
                d = _connect(d)
                d.setblocking(False)
                self.inserted = False
            except OSError:
                d = None
            self.switch = d
        return d

    def changed(self):
        """Reads the switch's news: the last byte is the state (None: it is gone)."""
        b = self.buf  # (asked between exchanges: what is left of an answer is dropped)
        self.i = self.n = 0
        n = self.switch.readinto(b)
        if n == 0:  # the world closed the switch: back to polling
            self.switch.close()
            self.switch = None
            self.inserted = True
        elif n:
            self.inserted = b[n - 1] == 0x31

    def activate(self):
        """Power on and cold reset; NoCard when nothing answers with a first ATR byte."""
        self.deactivate()
        try:
            s = _connect(self.spec)
        except OSError:
            raise NoCard(self.name)
        s.setblocking(False)  # readinto then returns what has arrived
        self.sock = s
        self.poll.register(s, select.POLLIN)
        try:
            self._fill(300)
        except Exception:
            self.deactivate()
            raise NoCard(self.name)

    def deactivate(self):
        if self.sock is not None:
            self.poll.unregister(self.sock)
            self.sock.close()
            self.sock = None
        self.i = self.n = 0

    def _fill(self, timeout_ms):
        while self.i >= self.n:
            if self.sock is None:
                raise CardRemoved(self.name)
            if not self.poll.poll(timeout_ms):
                raise Timeout("%s silent %d ms" % (self.name, timeout_ms))
            try:
                n = self.sock.readinto(self.buf)
            except OSError:
                n = 0
            if n == 0:  # closed by the world: the card was pulled
                self.deactivate()
                raise CardRemoved(self.name + " removed")
            if n:
                self.i, self.n = 0, n

    def read(self, timeout_ms):
        self._fill(timeout_ms)
        self.i += 1
        return self.buf[self.i - 1]

    def write(self, buf):
        mv = memoryview(buf)
        while mv:
            try:
                n = self.sock.write(mv)
            except (OSError, AttributeError):
                self.deactivate()
                raise CardRemoved(self.name + " removed")
            if n is None:
                time.sleep_ms(1)  # loopback buffer full: let the world read
                n = 0
            mv = mv[n:]

    def present(self):
        """Still in the slot? (The world closes the connection when the card is pulled.)
        Asked between exchanges only: what is left of an answer is dropped first."""
        self.i = self.n = 0
        try:
            self._fill(0)
        except Timeout:
            return True
        except CardRemoved:
            return False
        return True


class Ui:
    """Keypad, two-line display and buzzer over one connection (docs/protocol.md 7.2)."""

    def __init__(self, spec):
        for _ in range(100):
            try:
                self.pollable = _connect(spec)
                self.pollable.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: screens at once
                break
            except OSError:
                time.sleep_ms(50)
        else:
            raise OSError("ui not reachable")
        self.key = bytearray(1)
        self.lines = None

    def show(self, l1, l2=""):
        if (l1, l2) != self.lines:
            self.lines = (l1, l2)
            self.pollable.write(b"SCREEN %s\t%s\n" % (l1, l2))

    def beep(self, n=1):
        self.pollable.write(b"BEEP %d\n" % n)

    def read_key(self):
        """The key waiting (after poll said so), None for a byte that is not a key."""
        key = self.key
        if not self.pollable.readinto(key):
            raise OSError("ui closed")
        k = chr(key[0])  # one character: an interned string, never a sequence of digits
        key[0] = 0  # the buffer does not keep the last digit
        return k if k in "0123456789CXE#" else None


class Host:
    """The host link's byte stream: stdin / stdout (a raw pty in the simulator)."""

    def __init__(self):
        self.pollable = sys.stdin

    def read(self, n):
        return sys.stdin.buffer.read(n)

    def write(self, b):
        sys.stdout.buffer.write(b)


def _trace(line):
    sys.stderr.write("TRACE %s\n" % line)


class Board:
    """The simulator's peripherals, from the environment."""

    name = NAME
    clock = None  # the journal asks clock.now(): the board itself

    def __init__(self):
        import config
        import flash
        self.journal_dev = flash.mount(_env("PAD_FLASH", "pad-flash.img"))
        self.cfg, self.cfg_problem = config.load()
        # littlefs holds only the configuration on this board (the firmware files live on
        # the host's filesystem): unmount it, and drop the set-up modules, to free their RAM.
        # On the emulated pad (padctl emulate) the chip mounted it and the firmware lives on
        # it: flash.mount found it mounted (mount_error set), and it stays.
        if self.journal_dev.mount_error is None:
            os.umount("/flash")
        del config, flash
        sys.modules.pop("flash", None)
        sys.modules.pop("config", None)
        slot = SocketSlot  # the bench's paced wires echo (echoslot.py, protocol.md 7.1)
        if _env("PAD_WIRE_ECHO") == "1":
            slot = __import__("echoslot").EchoSlot
        self.card = slot(_env("PAD_CARD", "127.0.0.1:7816"), "card", _env("PAD_CARD_DETECT"))
        self.psam = slot(_env("PAD_PSAM", "127.0.0.1:7817"), "PSAM")
        self.ui = Ui(_env("PAD_UI", "127.0.0.1:7818"))
        self.host = Host() if _env("PAD_LINK", "1") == "1" else None
        self.clock = self
        # test switches (simulator only, README.md)
        self.skip_pending = _env("PAD_TEST_SKIP_PENDING") == "1"
        self.wwt_scale = int(_env("PAD_WWT_SCALE", "1"))
        self.trace = _trace if _env("PAD_TRACE") == "1" else None

    def now(self):
        """RTC seconds when the RTC is set (the simulator's follows the host), else None."""
        t = int(time.time())
        return t if t > 1600000000 else None

    @staticmethod
    def rtc():
        """RTC memory: the bytes the reset that started this boot kept (app.py: the boot
        mode, b"L" a link-first boot, and a count), b"" after a power-up. A real pad keeps
        them in RTC memory, which a reset keeps and a power cut loses; here reset() leaves
        them in the file PAD_RTC and padctl.sim passes them on."""
        return bytes.fromhex(_env("PAD_RTC_DATA", ""))

    def reset(self, rtc=b""):
        """Hard reset: the process exits with 75 (78: rtc asks for a link-first boot,
        b"L") and the simulated world (padctl.sim) starts it again, as the ESP32 restarts
        on machine.reset(): a clean heap. rtc: bytes (at most 64) the next boot reads."""
        if rtc and _env("PAD_RTC"):
            with open(_env("PAD_RTC"), "wb") as f:
                f.write(rtc)
        self.card.deactivate()
        self.psam.deactivate()
        sys.exit(78 if rtc[:1] == b"L" else 75)
