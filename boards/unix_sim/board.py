# The unix-port simulator board: every peripheral is a loopback TCP connection to the
# simulated world (host_tools/padctl/sim.py), the flash a file (flash.py), the host link
# this process's stdin/stdout. Addresses come from the environment (README.md).
import os
import select
import socket
import sys
import time

from micropython import const

from errors import CardRemoved, NoCard, Timeout

NAME = "unix_sim"
_ATR_FIRST_MS = const(300)


def _addr(spec):
    host, port = spec.rsplit(":", 1)
    return socket.getaddrinfo(host, int(port))[0][-1]


def _env(name, default=None):
    v = os.getenv(name)
    return default if v is None or v == "" else v


def _write_all(sock, buf):
    mv = memoryview(buf)
    while mv:
        n = sock.write(mv)
        if n is None:
            n = 0
            time.sleep_ms(1)  # loopback buffer full: let the world read
        mv = mv[n:]


class SocketSlot:
    """An ISO 7816 contact slot: one TCP connection is one activation of the card."""

    def __init__(self, spec, name="card"):
        self.name = name
        self._addr = _addr(spec)
        self._sock = None
        self._poll = select.poll()
        self._buf = bytearray(64)
        self._mv = memoryview(self._buf)
        self._i = 0
        self._n = 0
        self.bytes_in = 0
        self.bytes_out = 0

    def activate(self):
        """Power on and cold reset; raises NoCard when no card answers."""
        self.deactivate()
        s = socket.socket()
        try:
            s.connect(self._addr)
        except OSError:
            s.close()
            raise NoCard("%s slot not reachable" % self.name)
        s.setblocking(False)  # readinto then returns what has arrived
        self._sock = s
        self._poll.register(s, select.POLLIN)
        try:
            self._fill(_ATR_FIRST_MS)
        except (CardRemoved, Timeout):
            self.deactivate()
            raise NoCard("no %s" % self.name)

    def deactivate(self):
        if self._sock is not None:
            try:
                self._poll.unregister(self._sock)
            except Exception:
                pass
            self._sock.close()
            self._sock = None
        self._i = self._n = 0

    def _fill(self, timeout_ms):
        if self._i < self._n:
            return
        if self._sock is None:
            raise CardRemoved("%s not powered" % self.name)
        if not self._poll.poll(timeout_ms):
            raise Timeout("%s silent for %d ms" % (self.name, timeout_ms))
        try:
            n = self._sock.readinto(self._buf)
        except OSError:
            n = 0
        if n is None:  # woken without data
            return self._fill(timeout_ms)
        if not n:
            self.deactivate()
            raise CardRemoved("%s removed" % self.name)
        self._i = 0
        self._n = n

    def read(self, timeout_ms):
        self._fill(timeout_ms)
        b = self._buf[self._i]
        self._i += 1
        self.bytes_in += 1
        return b

    def write(self, buf):
        if self._sock is None:
            raise CardRemoved("%s not powered" % self.name)
        try:
            _write_all(self._sock, buf)
        except OSError:
            self.deactivate()
            raise CardRemoved("%s removed" % self.name)
        self.bytes_out += len(buf)

    def flush_input(self):
        self._i = self._n = 0
        while self._sock is not None and self._poll.poll(0):
            self._fill(0)
            self._i = self._n = 0

    def present(self):
        """Still in the slot? (The world closes the connection when the card is pulled.)"""
        if self._sock is None:
            return False
        if self._i < self._n:
            return True
        try:
            self._fill(0)
        except Timeout:
            return True
        except CardRemoved:
            return False
        return True


class Ui:
    """Keypad, two-line display and buzzer, over one connection (docs/protocol.md 7.2)."""

    KEYS = b"0123456789CXE"

    def __init__(self, spec):
        self._sock = None
        addr = _addr(spec)
        for _ in range(100):
            s = socket.socket()
            try:
                s.connect(addr)
                self._sock = s
                break
            except OSError:
                s.close()
                time.sleep_ms(50)
        if self._sock is None:
            raise OSError("ui not reachable")
        self.pollable = self._sock
        self._b = bytearray(1)
        self.lines = ("", "")

    def show(self, l1, l2=""):
        if (l1, l2) == self.lines:
            return
        self.lines = (l1, l2)
        self._sock.write(("SCREEN %s\t%s\n" % (l1, l2)).encode())

    def beep(self, n=1):
        self._sock.write(b"BEEP %d\n" % n)

    def read_key(self):
        """One key if a byte is waiting (call after poll says so); None for noise."""
        n = self._sock.readinto(self._b)
        if not n:
            raise OSError("ui closed")
        k = self._b[0]
        return chr(k) if k in self.KEYS else None


class Clock:
    def now(self):
        """RTC seconds since the epoch when the RTC is set (the simulator's is), else None."""
        t = time.time()
        return int(t) if t > 1600000000 else None

    def ticks_ms(self):
        return time.ticks_ms()


class Host:
    """The host link's byte stream: stdin / stdout (a pty in the simulator)."""

    def __init__(self):
        self.pollable = sys.stdin
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer

    def read(self, n):
        return self._in.read(n)

    def write(self, b):
        self._out.write(b)
        try:
            self._out.flush()
        except AttributeError:
            pass


def _trace(line):
    sys.stderr.write("TRACE %s\n" % line)


class Board:
    """Composition of the simulator's peripherals from the environment."""

    name = NAME

    def __init__(self):
        import flash
        self.card = SocketSlot(_env("PAD_CARD", "127.0.0.1:7816"), "card")
        self.psam = SocketSlot(_env("PAD_PSAM", "127.0.0.1:7817"), "PSAM")
        self.ui = Ui(_env("PAD_UI", "127.0.0.1:7818"))
        self.clock = Clock()
        self.host = Host() if _env("PAD_LINK", "1") == "1" else None
        self.flash_path = _env("PAD_FLASH", "pad-flash.img")
        self.journal_dev = flash.mount(self.flash_path)
        # Test switches (simulator only): see README.md.
        self.skip_pending = _env("PAD_TEST_SKIP_PENDING") == "1"
        self.wwt_scale = int(_env("PAD_WWT_SCALE", "1"))
        self.trace = _trace if _env("PAD_TRACE") == "1" else None

    def service_mode(self):
        return False

    def reset(self):
        """Soft restart: close the peripherals; main.py builds a new board."""
        self.card.deactivate()
        self.psam.deactivate()
