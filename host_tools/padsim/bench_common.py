"""What every part of `make bench` shares (padsim.bench runs them all): the line rates,
the process and flash counters, the progress lines, and the pad driven screen by screen.
Figures are measured and printed, never asserted."""
import os
import re
import sys
import time
from pathlib import Path

CARD_BAUD = 9600          # ISO 7816-3 default: 3.57 MHz / 372 clocks per ETU
ETU_PER_CHAR = 12         # start, 8 data, parity, 2 ETU guard time
LINK_BAUD = 115200        # the host link's serial line
LINK_BITS_PER_BYTE = 10   # 8N1
LINK_BYTES_PER_S = LINK_BAUD / LINK_BITS_PER_BYTE
SUITES = ("SM4", "3DES")
RIGHT, WRONG = "123456", "654321"
SCREEN_TIMEOUT = 15.0


class BenchError(RuntimeError):
    """A step of the bench that could not run (the pad died, a screen never came)."""


def wire_seconds(nbytes, baud=CARD_BAUD, etu=ETU_PER_CHAR):
    """Time nbytes take on a T=0 contact line at `baud` ETU/s, `etu` ETU per character."""
    return nbytes * etu / baud


def link_seconds(nbytes, rate=LINK_BYTES_PER_S):
    return nbytes / rate


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (os.sysconf('SC_CLK_TCK') a second)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 is fields[0]
    return int(fields[11]) + int(fields[12])


TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def flash_totals(path):
    """(programs, erases, bytes) from a PAD_FLASH_STATS file; zeros before it exists."""
    try:
        vals = [int(x) for x in Path(path).read_text().split()]
    except (OSError, ValueError):
        return (0, 0, 0)
    return tuple(vals) if len(vals) == 3 else (0, 0, 0)


class Counted:
    """An APDU processor wrapper: counts the commands it processes, notes its activation."""

    def __init__(self, inner):
        self.inner = inner
        self.commands = 0
        self.activated = None  # time.monotonic() of the last activation (reset)
        self.answered = None   # time.monotonic() of the last answer

    def reset(self):
        self.activated = time.monotonic()
        return self.inner.reset()

    def process(self, apdu):
        self.commands += 1
        try:
            return self.inner.process(apdu)
        finally:
            self.answered = time.monotonic()

    def __getattr__(self, name):  # atr, state, ...
        return getattr(self.inner, name)


class Progress:
    """Step lines and an overwritten progress line, on stderr (quiet: none)."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._open = False

    def step(self, msg):
        if not self.quiet:
            self._end()
            self.stream.write("bench: %s\n" % msg)
            self.stream.flush()

    def __call__(self, label, done, total):
        if self.quiet or not self.tty:
            return
        self.stream.write("\r  %s %d/%d\033[K" % (label, done, total))
        self.stream.flush()
        self._open = True
        if done >= total:
            self._end()

    def _end(self):
        if self._open:
            self.stream.write("\n")
            self._open = False

# --- driving the pad ---------------------------------------------------------------------

class Story:
    """Waits for screens of the pad in order, failing fast if the pad dies or crashes."""

    def __init__(self, sim, timeout=SCREEN_TIMEOUT):
        self.sim = sim
        self.mark = sim.ui.mark()  # screens of an earlier run of the pad do not count
        self.timeout = timeout

    def crashed(self):
        """None, or why the pad is not well: it exited, or it printed a traceback (main.py
        restarts the pad after one, so a crash may not stop it)."""
        sim = self.sim
        if not sim.alive():
            return "the pad exited (code %s)%s" % (sim.proc.poll(), _last_words(sim))
        try:
            log = (sim.dir / "pad.log").read_text(errors="replace")
        except OSError:
            return None
        if "Traceback" in log:
            return "the pad crashed: " + log[log.rindex("Traceback"):].strip().splitlines()[-1]
        return None

    def expect(self, pattern, what=None):
        end = time.monotonic() + self.timeout
        while True:
            lines = None
            try:
                i, lines = self.sim.ui.wait_for(pattern, 0.1, after=self.mark)
                self.mark = i + 1
            except TimeoutError:
                pass
            why = self.crashed()
            if lines is not None and why is None:
                return lines
            if why is None and time.monotonic() > end:
                why = "screen /%s/ not shown within %.0f s (last: %r)" % (
                    pattern, self.timeout, self.sim.ui.screen)
            if why:
                raise BenchError("%s: %s" % (what or pattern, why))

    def verify(self, pin, result):
        """Insert the card, type the PIN, wait for the result, take the card back."""
        self.sim.insert()
        self.expect("Enter PIN")
        self.sim.ui.press(pin + "E")
        self.expect(result)
        self.sim.pull()
        self.expect("insert card")


def _last_words(sim):
    """': <last line>' the pad wrote to its console (the pty, with the link), or ''."""
    port = getattr(sim, "port", None) if getattr(sim, "_pty", ()) else None
    if not port:
        return ""
    try:
        fd = os.open(port, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return ""
    try:
        data = os.read(fd, 1 << 16)
    except OSError:
        data = b""
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return ": " + lines[-1] if lines else ""


def start_pad(sim, heap, link=False, env=None):
    st = Story(sim)
    sim.start(env=env, heap=heap, link=link)
    st.expect("insert card", "boot")
    return st


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def heap_kb(heap):
    m = re.fullmatch(r"(\d+)([kKmM]?)", str(heap))
    if not m:
        raise ValueError("heap size %r: use e.g. 64k" % heap)
    return int(m.group(1)) * {"": 1 / 1024, "k": 1, "m": 1024}[m.group(2).lower()]
