"""Power cuts at every step of unlock and of reset at the window (issue 9, protocol.md 9.7,
8.3 WINDOW): the pad is SIGKILLed after each message of the exchange (as the host sees it:
before, at once after and a little after each host message) and at bytes of the card wire
from the card's challenge on (the UNBLOCK / RELOAD itself, its answer). After each cut the
pad boots again and the card is inserted for a PIN: the card is either unlocked / reset or
not, and the pad's record agrees once that insertion has reconciled the WINDOW intent (the
journal says which: UNLOCK / RESET with the ref, 01 the host's verdict or 02 reconciled;
else no unlock, or WINDOW FE / FF closing the intent). `make test` cuts the card wire at
every 4th byte (from a random offset), `make soak-all` (.ci/run) at every byte. Keys:
TEST MATERIAL."""
import random
import threading
import time

import pytest

from padctl import link as L
from padctl import winlink as WL
from padctl.idnumber import DEFAULT_HOLDER_ID
from padsim.vcard import card_state
from test_window import REF, TestKeys, WindowPad

NEW = "271828"
STEPS = ("ready", "card", "u", "u+", "chal", "c", "c+", "answer", "v", "v+", "end")


class Cuts:
    def __init__(self, tmp, op):
        self.op = op
        self.cut = None  # ("card", "rx"|"tx", index): armed while the window boot runs
        self.fired = False
        self.pad = WindowPad(tmp, card_slot={"on_byte": self._hook},
                             config={"window_link_s": 3})
        self.rounds = self.cuts = 0
        self.outcomes = {"done": 0, "not": 0}

    def _hook(self, direction, index, _byte):
        c = self.cut
        if c and not self.fired and c[1] == direction and c[2] == index:
            self.fired = True
            self.pad.kill()
            try:  # the host's wait ends at once
                self.stream.close()
            except Exception:
                pass
            return True
        return False

    def lock(self):
        """A fresh card, locked at this pad by three wrong PINs."""
        p = self.pad
        p.pull(idle=False)
        p.new_card()
        p.lock()

    def holder(self):
        keys = (() if self.op == 1 else
                (("^Enter new PIN$", NEW + "E"), ("^New PIN again$", NEW + "E")))
        prompt = "^(Unlock|PIN reset) at the window$"
        return self.pad.holder(prompt, keys)

    def play(self, step=None, card_cut=None):
        """One operation, cut at step (host side) or at a card-wire byte; returns where the
        wire counts stood at CHALLENGE and at the end (calibration)."""
        p, mark = self.pad, {}
        self.cut, self.fired = None, False
        self.rounds += 1
        stream = self.stream = L.open_port(p.port)
        link = L.PadLink(stream, bytes.fromhex(p.config["link_key"]))
        w = WL.WindowOp(link, self.op, REF, DEFAULT_HOLDER_ID, TestKeys(p.ks, p.region))
        t = self.holder()

        def at(name, pause=0.0):
            if name == step:
                if pause:
                    time.sleep(pause)
                self.fired = True
                p.kill()
                raise _Cut()
        try:
            w.start(30)
            self.cut = card_cut
            at("ready")
            w.wait_card(30)
            at("card")
            w.authorise()
            at("u")
            at("u+", 0.05)
            w.wait_challenge(30)
            mark["chal"] = (p.card_slot.rx, p.card_slot.tx)
            at("chal")
            w.command()
            at("c")
            at("c+", 0.05)
            done, sw = w.wait_answer()
            at("answer")
            w.verdict(done, sw)
            at("v")
            at("v+", 0.05)
            w.wait_end()
            mark["end"] = (p.card_slot.rx, p.card_slot.tx)
            at("end")
        except Exception:  # (a cut: the line closes under the driver; anything before the
            if not self.fired:  # cut, e.g. the pad crashing, is a failure)
                raise
        finally:
            try:
                stream.close()
            except Exception:
                pass
        t.stop()
        if step or card_cut:
            assert self.fired, "the operation ended before its cut point %r" % ((step, card_cut),)
            self.cuts += 1
            p.kill()
        return mark

    def check(self):
        """Boot again, insert the card: either-or, and the pad agrees (trace and journal)."""
        p = self.pad
        p.pull(idle=False)
        p.stop()
        p.boot()
        assert "tamper" not in " ".join(" ".join(f) for k, f in p.trace() if k == "boot")
        st = card_state(p.card_path)
        tries, pin = int(st["tries"]), st["pin"]
        new = NEW if self.op == 2 else p.pin
        assert tries in (0, 3), st
        assert pin in (p.pin, new), st
        done = tries == 3
        if self.op == 2:
            assert done == (pin == NEW), ("a reset card has its new PIN and its tries", st)
        n = len([1 for k, _ in p.trace() if k == "post"])
        p.insert()
        p.expect("^(Enter PIN|Card locked)$", 10)
        f, pending, locked = p.wait_state("post", n + 1)
        assert pending is None, "an intent left open after the insertion"
        if done:
            assert (f, locked) == (0, False), "the card is unlocked, the pad says %r" % (
                (f, locked),)
        else:
            assert f >= 3 and locked, "the card is locked, the pad says %r" % ((f, locked),)
        recs = [(k, d) for k, c, d in p.journal() if c == p.card_id.lower()]
        kind = "UNLOCK" if self.op == 1 else "RESET"
        last_lock = max(i for i, (k, _) in enumerate(recs) if k == "LOCK")
        after = recs[last_lock + 1:]
        ends = [d for k, d in after if k == kind]
        # the intent settled at the insertion: POWER_RECOVERY 03 (back at the maximum:
        # done) or 02 (the same tries: not done)
        settled = [d[:2] for k, d in after if k == "POWER_RECOVERY"]
        intent = [d for k, d in after if k == "WINDOW" and int(d[14:16], 16) < 0x20]
        if done:
            assert (ends == [REF.hex() + "01"] and not settled
                    or not ends and intent and settled == ["03"]), after
        else:
            assert not ends and set(settled) <= {"02"}, after
            assert not intent or settled or any(
                k == "WINDOW" and d[14:] == "fe" for k, d in after), after
        log = p.log()  # the cuts are SIGKILLs: a traceback is the pad's own failure
        assert "Traceback" not in log, log[-1500:]
        assert "CRASH" not in p.kinds()
        self.outcomes["done" if done else "not"] += 1
        p.press("X")
        p.pull(idle=False)
        return done


class _Cut(Exception):
    pass


# make test cuts at every step of the host's exchange and at every STRIDE-th byte of the
# card wire (from a random offset, printed); make soak-all (.ci/run) at every byte
STRIDE = 4


def _run(tmp_path, op, stride):
    h = Cuts(tmp_path / "pad", op)
    try:
        h.lock()
        mark = h.play()  # calibration: an uncut operation
        assert h.check() and mark
        (rx0, tx0), (rx1, tx1) = mark["chal"], mark["end"]
        off = random.randrange(stride)
        points = [(s, None) for s in STEPS]
        points += [(None, ("card", "rx", i)) for i in range(rx0 + off, rx1, stride)]
        points += [(None, ("card", "tx", i)) for i in range(tx0 + off, tx1, stride)]
        for step, cut in points:
            h.lock()
            h.play(step, cut)
            h.check()
        print("window power cuts (%s): %d rounds, %d cuts (card bytes: every %d from +%d), "
              "outcomes %r" % ("unlock" if op == 1 else "reset", h.rounds, h.cuts, stride,
                               off, h.outcomes))
        assert h.outcomes["done"] and h.outcomes["not"]
    finally:
        h.pad.close()


@pytest.mark.parametrize("op", [1, 2], ids=["unlock", "reset"])
def test_power_cuts_at_every_step_of_the_window(tmp_path, op):
    _run(tmp_path, op, STRIDE)


@pytest.mark.soak_all
@pytest.mark.parametrize("op", [1, 2], ids=["unlock", "reset"])
def test_power_cuts_at_every_byte_of_the_window(tmp_path, op):
    _run(tmp_path, op, 1)
