"""Whole-pad test fixture: the real firmware on the simulator, and the cardholder's moves.

``PadSim(workdir, pin_timeout_s=None, config=None, **sim options)`` is a
``padsim.sim.Sim`` with the firmware started (heap ``padctl.mpy.HEAP``, ``PAD_TRACE=1``;
``config``: entries provisioned into the pad's config.json, e.g. ``{"cmd_cap_s": 2}``)
and helpers that read what a cardholder, the card and the journal would tell:

- screens: ``expect(pattern)`` waits for a screen after the current mark (``mark()``
  moves it to now) and moves the mark past it; ``seen(pattern, since)`` lists screens;
- the card: ``insert()`` puts in a ``RecordingCard`` (``vcard``: the commands it got and
  its answers) or any APDU processor, ``pull()``, ``attempt(pin)`` (insert, PIN, result,
  pull), ``card_fails()`` (limit - tries left, from the virtual card's state file);
- the pad's counter: ``states()`` / ``wait_state(kind, n)`` parse the firmware's
  ``TRACE pre|post|out <card id> <failures> <pending or -> <locked>`` lines;
- the journal: ``journal()`` opens a copy of the flash image with the firmware's own
  journal.py under micropython and lists ``(kind name, card id hex, data hex)``;
  ``kinds(card_id)``; ``assert_no_crash()``: running, no traceback, no CRASH record.

Every file the Sim writes (keystore, cards, PSAM) is TEST MATERIAL: generated keys.
"""
import re
import shutil
import time

from padctl.mpy import HEAP, run_code
from padsim.powercut import TRACE
from padsim.sim import Sim
from padsim.vcard import VirtualCard, card_state

# line 1 of the screens (firmware/lang_en.txt), anchored so that "Social security card"
# on the idle screen's line 2 never matches "Not a social security card"
IDLE = "^Please insert card$"
IDLE_ZH = "^请插入社保卡$"
ENTER = "^Enter PIN$"
RESULT = ("^(PIN OK|Wrong PIN|Card locked|Card of another region|Not a social security card|"
          "Card error|Security module error|Log full|Timed out|Cancelled|Card not genuine|"
          "Card removed|PIN changed)$")
# before the PIN: what insertion can end in (Enter old PIN: a PIN change, change.py)
AFTER_INSERT = ("^(Enter PIN|Enter old PIN|Card locked|Card of another region|"
                "Not a social security card|Card error|Security module error|Log full|"
                "Card not genuine|Card removed)$")


def _kind_names():
    """The journal's kinds by code (protocol.md 8.3): the host's table, padctl.store.KINDS
    (tests/test_names.py holds the firmware's private consts to it)."""
    from padctl.store import KINDS
    return dict(KINDS)


_DUMP = """
import flash, journal
from binascii import hexlify
names = %r  # (padctl.store.KINDS: journal.py names its kinds by private consts, RAM)
j = journal.Journal(flash.partitions(%r)[1])
for r in j.iter_from(0):
    print("REC", names.get(r.kind, r.kind), hexlify(r.card_id).decode(), hexlify(r.data).decode())
print("END")
"""


class RecordingCard(VirtualCard):
    """The virtual card, remembering each command's (CLA, INS) and its answer."""

    def __init__(self, path, ta1=None):
        super().__init__(path, ta1=ta1)
        self.log = []
        self.apdus = []

    def process(self, apdu):
        r = super().process(apdu)
        self.log.append((apdu[0], apdu[1], bytes(r)))
        self.apdus.append(bytes(apdu))
        return r

    def got(self, cla, ins):
        """Did the card receive a command with this CLA and INS?"""
        return any(c == cla and i == ins for c, i, _ in self.log)

    def got_verify(self):
        """Did the card receive a secure VERIFY with a PIN block (not the authenticated
        tries-left read, `04 20 00 00 04 M`)?"""
        return any(a[:2] == b"\x04\x20" and len(a) > 5 and a[4] > 4 for a in self.apdus)


# the reader is a test tool, not the pad: it gets room (the pad itself runs at HEAP)
_READER_HEAP = "512k"


class PadSim(Sim):
    """A Sim whose firmware is running; see the module docstring."""

    def __init__(self, workdir, pin_timeout_s=None, boot=True, config=None, heap=HEAP, **kw):
        super().__init__(workdir, **kw)
        self.heap = heap  # the firmware's -X heapsize
        if pin_timeout_s is not None or config:
            if pin_timeout_s is not None:
                self.config["pin_timeout_s"] = pin_timeout_s
            self.config.update(config or {})  # e.g. small wait caps (cmd_cap_s, session_cap_s)
            self.provision()
        self.at = 0  # the screen mark expect() searches from
        self.idle = IDLE_ZH if self.config["lang"] == "zh" else IDLE
        self.vcard = None  # the RecordingCard inserted last
        if boot:
            try:
                self.boot()
            except BaseException:
                self.close()  # never leave a firmware process running behind a failure
                raise

    # --- the pad ------------------------------------------------------------------------
    def boot(self):
        self.mark()
        self.start(env={"PAD_TRACE": "1"}, heap=self.heap)
        end = time.monotonic() + 15
        while True:  # fail at once when the firmware crashes at boot (e.g. MemoryError)
            try:
                return self.expect(self.idle, timeout=0.1)
            except AssertionError:
                log = self.log()
                if "Traceback" in log or not self.alive() or time.monotonic() > end:
                    raise AssertionError("the pad did not boot to its idle screen (heap %s):\n%s"
                                         % (self.heap, log[-1200:])) from None

    def log(self):
        return (self.dir / "pad.log").read_text(errors="replace")

    def trace(self):
        """[(kind, [fields])] of every TRACE line the firmware wrote so far."""
        out = []
        for line in self.log().splitlines():
            m = TRACE.match(line)
            if m:
                out.append((m.group(1), m.group(2).split(" ")))
        return out

    def states(self, card_id=None):
        """{"pre"|"post"|"out": (failures, pending tries or None, locked)}: the last TRACE
        state lines for the card (the current one by default)."""
        cid = (card_id or self.card_id).lower()
        seen = {}
        for kind, f in self.trace():
            if kind in ("pre", "post", "out") and f[0] == cid:
                seen[kind] = (int(f[1]), None if f[2] == "-" else int(f[2]), f[3] == "1")
        return seen

    def wait_state(self, kind, count, timeout=5.0):
        """Wait until `count` TRACE lines of `kind` were written; the count-th one's state
        (failures, pending tries or None, locked)."""
        end = time.monotonic() + timeout
        while True:
            lines = [f for k, f in self.trace() if k == kind]
            if len(lines) >= count:
                f = lines[count - 1]
                return int(f[1]), None if f[2] == "-" else int(f[2]), f[3] == "1"
            if time.monotonic() > end:
                raise AssertionError("no TRACE %s #%d; log tail: %s" % (kind, count,
                                                                       self.log()[-800:]))
            time.sleep(0.02)

    def journal(self):
        """[(kind name, card id hex, data hex)] of the pad's journal, oldest first, read by
        the firmware's own journal.py from a copy of the flash image (the pad may run on)."""
        copy = self.dir / "flash-copy.img"
        shutil.copyfile(self.flash, copy)
        r = run_code(_DUMP % (_kind_names(), str(copy)), heap=_READER_HEAP, tests=False)
        if r.returncode != 0 or "END" not in r.stdout:
            raise AssertionError("journal reader failed: %s %s" % (r.stdout, r.stderr))
        return [tuple(line.split(" ")[1:4]) for line in r.stdout.splitlines()
                if line.startswith("REC ")]

    def kinds(self, card_id=None):
        """Journal kinds in order; only one card's when card_id (hex) is given (records
        about no card carry 32 zeros)."""
        recs = self.journal()
        if card_id is None:
            return [k for k, _, _ in recs]
        cid = card_id.lower()
        return [k for k, c, _ in recs if c == cid]

    def assert_no_crash(self):
        """The firmware process runs, printed no traceback and journaled no CRASH."""
        assert self.alive(), "the pad process ended:\n" + self.log()[-1200:]
        assert "Traceback" not in self.log(), self.log()[-1200:]
        assert "CRASH" not in self.kinds()

    # --- the cardholder -----------------------------------------------------------------
    def mark(self):
        self.at = self.ui.mark()
        return self.at

    def expect(self, pattern, timeout=5.0):
        """The first screen after the mark matching pattern (either line); the mark moves
        past it. AssertionError naming the pad's last screens and log if none came."""
        try:
            i, screen = self.ui.wait_for(pattern, timeout, after=self.at)
        except TimeoutError as e:
            raise AssertionError("%s\npad alive: %s; log tail:\n%s"
                                 % (e, self.alive(), self.log()[-1200:])) from None
        self.at = i + 1
        return screen

    def seen(self, pattern, since):
        """Screens since mark `since` whose line 1 matches pattern."""
        rx = re.compile(pattern)
        return [s for s in self.ui.screens[since:] if rx.search(s[0])]

    def insert(self, path=None, processor=None):
        """Insert the current card (or path) as a RecordingCard (self.vcard), or any APDU
        processor; marks the screens."""
        self.mark()
        if processor is None:
            processor = self.vcard = RecordingCard(path or self.card_path, ta1=self.ta1)
        self.card_slot.insert(processor)

    def pull(self, idle=True, timeout=5.0):
        """Take the card; by default wait for the idle screen to come back."""
        self.card_slot.pull()
        if idle:
            return self.expect(self.idle, timeout)

    def press(self, keys):
        self.ui.press(keys)

    def attempt(self, pin, result=RESULT):
        """Insert, enter pin + Enter, wait for the result, pull; returns the result screen."""
        self.insert()
        self.expect(ENTER)
        self.press(pin + "E")
        screen = self.expect(result)
        self.pull()
        return screen

    def card_fails(self, path=None):
        """Failures the card counts since its last success (limit - tries left)."""
        st = card_state(path or self.card_path)
        return int(st["limit"]) - int(st["tries"])
