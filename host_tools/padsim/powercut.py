"""Power cuts at enumerated points, checked against DESIGN section 5.

Each round starts the real firmware on the same flash image with one cut armed, and plays
one PIN attempt: the pad is killed (SIGKILL) at a flash operation (torn or whole, via the
block device's PAD_TEAR_AT / PAD_TEAR_KEEP) or at a byte on the card or PSAM wire (the slot
server's byte hook). The next round's boot and insertion then show, from the firmware's own
trace lines, what the pad had recorded before it settled with the card ("pre") and after
("post"); the harness reads the virtual card's counter from its state file and checks:

- the invariant: the pad's failures since the last success, the pending one included,
  are at least the card's (pre);
- the pad booted, the flash mounted, the journal opened with no tampering reported
  (a torn write is cut, never taken for tampering);
- after re-insertion the pad and the card agree (post: nothing pending, same count).
"""
import random
import re
import time
from collections import Counter

from .sim import Sim

TRACE = re.compile(r"^TRACE (\w+) (.*)$")


class Violation(AssertionError):
    pass


class Harness:
    def __init__(self, workdir, heap="64k", seed=1, skip_pending=False, limit=3, say=None,
                 wake=False):
        self.rng = random.Random(seed)
        # wake: press Clear at the idle screen right after inserting the card, so the pad
        # reads it at once instead of at its next idle poll (300 ms); the key is ignored
        self.wake = wake
        self.heap = heap
        self.say = say or (lambda *_: None)
        self.cut = None        # ("card" | "psam", "rx" | "tx", index) armed for this round
        self.cut_fired = False
        self.sim = Sim(workdir, limit=limit, pad_limit=limit, card_limit=limit,
                       card_slot={"on_byte": self._hook("card")},
                       psam_slot={"on_byte": self._hook("psam")})
        self.limit = limit
        self.env = {"PAD_TRACE": "1"}
        if skip_pending:
            self.env["PAD_TEST_SKIP_PENDING"] = "1"
        self.hits = Counter()  # distinct cut points hit: (kind, where, variant) -> times
        self.rounds = 0
        self.cuts = 0
        self.checked = 0
        self.torn = 0
        self._log_pos = 0

    # --- cutting --------------------------------------------------------------------------
    def _hook(self, wire):
        last = bytearray(5)  # the last 5 bytes the pad sent on this wire
        after = [None]  # card bytes sent since the header of an ("after", ...) cut came

        def on_byte(direction, index, byte):
            c = self.cut
            if not c or c[0] != wire or self.cut_fired:
                return False
            if c[1] == "after":  # (wire, "after", head, k): the k-th byte the card sends
                if index == 0:  # a new activation (its ATR, its first command)
                    after[0] = None
                if direction == "rx":  # after the pad's header `head Lc` (Lc over 4: a
                    last[:4] = last[1:]  # command with data beyond a MAC), whatever came
                    last[4] = byte  # before it on the wire (a plain or an authenticated
                    if last[:4] == c[2] and byte > 4 and index >= 4:  # tries read)
                        after[0] = 0
                    return False
                if after[0] is None:
                    return False
                k = after[0]
                after[0] += 1
                if k != c[3]:
                    return False
            elif c[1] != direction or c[2] != index:
                return False
            self.cut_fired = True
            self.sim.kill()
            return True
        return on_byte

    def _trace(self):
        path = self.sim.dir / "pad.log"
        with open(path, "rb") as f:
            f.seek(self._log_pos)
            data = f.read()
            self._log_pos = f.tell()
        out = []
        for line in data.decode("utf-8", "replace").splitlines():
            m = TRACE.match(line)
            if m:
                out.append((m.group(1), m.group(2).split(" ")))
            elif "Error" in line or "Traceback" in line:
                out.append(("stderr", [line]))
        return out

    # --- one round ------------------------------------------------------------------------
    def round(self, cut, pin):
        """cut: None, ("flash", n, keep) or ("card"|"psam", "rx"|"tx", index)."""
        self.rounds += 1
        env = dict(self.env)
        self.cut, self.cut_fired = None, False
        if cut and cut[0] == "flash":
            env["PAD_TEAR_AT"] = str(cut[1])
            if cut[2] is not None:
                env["PAD_TEAR_KEEP"] = str(cut[2])
        elif cut:
            self.cut = cut
        ui = self.sim.ui
        mark = ui.mark()
        self.sim.pull()
        self.sim.start(env=env, heap=self.heap)
        outcome = self._play(pin, mark)
        died = not self.sim.alive()
        if self.sim.resets:
            raise Violation("the pad crashed and reset itself (%d)" % self.sim.resets)
        self.sim.kill()  # whatever state it is in: the power goes off here too
        self.sim.pull()
        if died and cut:
            self.cuts += 1
            self.hits[self._name(cut)] += 1
        return outcome, died

    def _name(self, cut):
        if cut[0] == "flash":
            keep = cut[2]
            variant = "half" if keep is None else ("before" if keep == 0 else
                                                   "after" if keep >= 4096 else "torn")
            return ("flash", cut[1], variant)
        return cut

    def _wait(self, pattern, after, timeout=10.0):
        """A screen matching pattern, or None as soon as the pad is dead (cut)."""
        end = time.monotonic() + timeout
        while True:
            try:
                return self.sim.ui.wait_for(pattern, 0.01, after=after)
            except TimeoutError:
                if not self.sim.alive():
                    errs = [" ".join(a) for k, a in self._trace() if k == "stderr"]
                    if errs:
                        raise Violation("pad error output: %s" % " | ".join(errs))
                    return None
                if time.monotonic() > end:
                    raise Violation("screen /%s/ not shown; trace %r" % (pattern, self._trace()))

    def _play(self, pin, mark):
        ui, sim = self.sim.ui, self.sim
        got = self._wait("insert card", mark)
        if got is None:
            return "died at boot"
        i, _ = got
        self._check_boot()
        sim.insert()
        if self.wake:
            try:
                ui.press("C")
            except (OSError, RuntimeError):  # the pad is already gone
                pass
        got = self._wait("Enter PIN|locked|error|region|genuine|Log full|removed", i + 1)
        if got is None:
            return "died at insertion"
        i, (l1, l2) = got
        try:
            self._check_insert()
        except Violation as e:  # name what the pad showed
            raise Violation("%s, after the screen %r (round %d, cut %r)"
                            % (e, (l1, l2), self.rounds, self.cut)) from None
        if l1 != "Enter PIN":
            return "no PIN asked: " + l1
        ui.press(pin + "E")
        got = self._wait("PIN OK|Wrong PIN|locked|error|removed", i + 1)
        if got is None:
            return "died during VERIFY"
        _, (l1, l2) = got
        if not sim.alive():
            return "died during VERIFY"
        self._check_after(l1)
        return l1

    # --- checks ---------------------------------------------------------------------------
    def _card_fails(self):
        return self.limit - self.sim.card_tries()

    def _check_boot(self):
        for kind, args in self._trace():
            if kind == "stderr":
                raise Violation("pad error output: %s" % " ".join(args))
            if kind == "boot":
                problems = " ".join(args[1:])
                if re.search(r"tamper|TAMPER", problems):
                    raise Violation("journal reports tampering after a power cut: %s" % problems)
                if "cut" in problems or "torn" in problems:
                    self.torn += 1

    def _states(self, want):
        deadline = time.monotonic() + 5
        seen = {}
        while time.monotonic() < deadline:
            for kind, args in self._trace():
                if kind == "stderr":
                    raise Violation("pad error output: %s" % " ".join(args))
                if kind in ("pre", "post", "out"):
                    seen[kind] = (int(args[1]), None if args[2] == "-" else int(args[2]),
                                  args[3] == "1")
            if all(k in seen for k in want):
                return seen
            time.sleep(0.01)
        raise Violation("pad gave no %s state (saw %r)" % (want, seen))

    def _check_insert(self):
        if not self.sim.alive():
            return
        st = self._states(("pre", "post"))
        card = self._card_fails()
        f, p, locked = st["pre"]
        recorded = f + (1 if p is not None else 0)
        self.checked += 1
        if recorded < card:
            raise Violation("invariant broken: pad recorded %d failure(s) (%d + %s pending), "
                            "card counted %d" % (recorded, f, p, card))
        f2, p2, locked2 = st["post"]
        if p2 is not None or f2 != card:
            raise Violation("pad and card disagree after re-insertion: pad %d failures "
                            "(pending %s), card %d" % (f2, p2, card))
        if (card >= self.limit) != locked2:
            raise Violation("lock state differs: pad locked=%s, card failures %d"
                            % (locked2, card))

    def _check_after(self, screen):
        st = (self._states(("out",)) if screen in ("PIN OK", "Wrong PIN", "Card locked",
                                                   "PIN changed") else {})
        if "out" in st:
            f, p, locked = st["out"]
            card = self._card_fails()
            if p is not None or f != card:
                raise Violation("after the attempt the pad has %d failures (pending %s), "
                                "the card %d" % (f, p, card))

    # --- the campaign ---------------------------------------------------------------------
    def calibrate(self):
        """Uncut rounds with a wrong PIN: how many flash operations and wire bytes, the most
        of two: the first on a card the pad has no failure of (its tries read plainly), the
        second with that failure recorded (read authenticated: more bytes on both wires),
        so that the points cover an attempt of either kind."""
        stats = self.sim.dir / "calib.stats"
        self.env["PAD_FLASH_STATS"] = str(stats)
        ops, card, psam = 0, (0, 0), (0, 0)
        for _ in range(2):
            if stats.exists():
                stats.unlink()
            self.round(None, "000000")
            ops = max(ops, sum(int(x) for x in stats.read_text().split()[:2]))
            c, p = self.sim.card_slot, self.sim.psam_slot
            card = (max(card[0], c.rx), max(card[1], c.tx))
            psam = (max(psam[0], p.rx), max(psam[1], p.tx))
        del self.env["PAD_FLASH_STATS"]
        self._refresh_card()
        return ops, card, psam

    def _refresh_card(self):
        if self.sim.card_tries() == 0 or self.rng.random() < 0.02:
            self.sim.new_card()

    def points(self, ops, card, psam):
        """Every cut point of one attempt, in a seeded random order."""
        pts = []
        for n in range(1, ops + 4):  # + the records a settled attempt or a LOCK adds
            for keep in (0, 1, 17, 32, 63, None, 4096):  # before, torn at k bytes, half, after
                pts.append(("flash", n, keep))
        for d, total in (("rx", card[0]), ("tx", card[1])):
            pts += [("card", d, i) for i in range(total)]
        for d, total in (("rx", psam[0]), ("tx", psam[1])):
            pts += [("psam", d, i) for i in range(0, total, 3)]
        self.rng.shuffle(pts)
        return pts

    def run(self, cuts, progress=None):
        """At least `cuts` cuts, and rounds until a third as many insertions were checked: a
        cut before the insertion's check (during the exchanges of insertion, which hold
        more of an attempt's card and PSAM traffic since the tries left are read
        authenticated there) ends its round unchecked; the next round's insertion checks
        the state it left. Seed 7, 200 cuts: 203 rounds gave 64 checks, so a few rounds
        more are played (before the authenticated read: 86 checks in 207 rounds)."""
        ops, card, psam = self.calibrate()
        pts = self.points(ops, card, psam)
        self.say("calibrated: %d flash operations, card wire %d+%d bytes, PSAM wire %d+%d bytes"
                 " per attempt; %d cut points" % (ops, card[0], card[1], psam[0], psam[1],
                                                  len(pts)))
        i = 0
        while self.cuts < cuts or self.checked < cuts // 3:
            cut = pts[i % len(pts)]
            i += 1
            self.round(cut, self._pick_pin())
            self._refresh_card()
            if progress:
                progress(self)
            if i > cuts * 4 + 50:
                break
        self.round(None, "000000")  # a last boot and insertion check the last cut
        return self

    def _pick_pin(self):
        """The PIN of a round: the card's now and then, else a random (mostly wrong) one."""
        pin = self.sim.pin if self.rng.random() < 0.3 else "%06d" % self.rng.randrange(10**6)
        if pin == self.sim.pin and self.rng.random() < 0.5:
            pin = "111111"
        return pin

    def verify_answer_points(self):
        """Card-wire cut points inside the card's answer to the secure VERIFY (its 61 0A,
        the GET RESPONSE's ACK, SM answer and SW: the 15 bytes after the command's ACK):
        the card has already counted the attempt when it sends them. Counted from the
        VERIFY's header, not from the activation: how many bytes came before it depends
        on the pad's state for the card (a plain or an authenticated tries read)."""
        return [("card", "after", b"\x04\x20\x00\x00", k) for k in range(1, 16)]

    def tally(self):
        kinds = Counter(k[0] for k in self.hits)
        return ("%d cuts in %d rounds, %d distinct cut points (flash %d, card wire %d, PSAM "
                "wire %d), %d torn tails cut, %d invariant checks passed"
                % (self.cuts, self.rounds, len(self.hits), kinds["flash"], kinds["card"],
                   kinds["psam"], self.torn, self.checked))

    def close(self):
        self.sim.close()


class ChangeHarness(Harness):
    """The same cuts during PIN changes at the pad (firmware/change.py): each round presses
    the function key (#) at the idle screen, inserts the card and types an old PIN (the
    card's own now and then, read from its state file, else a random one) and a new one
    twice (from STRONG: the weak-PIN rules pass them for the simulated card's holder). The
    checks are the VERIFY's: the invariant and the agreement of pad and card at the next
    insertion, and after the outcome; the card's PIN is whatever it holds by then."""

    STRONG = ("835027", "604183", "246813", "592817", "370945")

    def _pick_pin(self):
        from .vcard import card_state
        pin = card_state(self.sim.card_path)["pin"]
        return pin if self.rng.random() < 0.4 else "%06d" % self.rng.randrange(10**6)

    def _play(self, pin, mark):
        ui, sim = self.sim.ui, self.sim
        got = self._wait("insert card", mark)
        if got is None:
            return "died at boot"
        i, _ = got
        self._check_boot()
        try:
            ui.press("#")
        except (OSError, RuntimeError):  # the pad is already gone
            return "died at boot"
        got = self._wait("^Change PIN$", i + 1)
        if got is None:
            return "died at boot"
        i, _ = got
        sim.insert()
        got = self._wait("Enter old PIN|locked|error|region|genuine|Log full|removed", i + 1)
        if got is None:
            return "died at insertion"
        i, (l1, l2) = got
        try:
            self._check_insert()
        except Violation as e:
            raise Violation("%s, after the screen %r (round %d, cut %r)"
                            % (e, (l1, l2), self.rounds, self.cut)) from None
        if l1 != "Enter old PIN":
            return "no PIN asked: " + l1
        new = self.rng.choice(self.STRONG)
        for keys, nxt in ((pin, "Enter new PIN"), (new, "New PIN again"),
                          (new, "PIN changed|Wrong PIN|locked|error|removed")):
            try:
                ui.press(keys + "E")
            except (OSError, RuntimeError):
                return "died during the change"
            got = self._wait(nxt, i + 1)
            if got is None:
                return "died during the change"
            i, (l1, l2) = got
        if not sim.alive():
            return "died during the change"
        self._check_after(l1)
        return l1

    def change_answer_points(self):
        """Card-wire cut points inside the card's answer to the CHANGE PIN (as
        verify_answer_points: the 15 bytes after its ACK): the card has counted the old
        PIN's check by then."""
        return [("card", "after", b"\x84\x5e\x01\x00", k) for k in range(1, 16)]

