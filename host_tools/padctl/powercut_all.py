"""Every cut point, not a sample (DESIGN section 5; the power-cut harness, exhaustively).

`make soak` draws random cuts from the points padctl.powercut.Harness lists. This run
instead takes one transaction of each kind from a fixed state and cuts it at every point
it has, in order, as littlefs's test runner does with its power-cycle counter:

- "right": insertion and the right PIN (on a card with one failure: the success clears it);
- "wrong": insertion and a wrong PIN (a fresh card);
- "lock": insertion and the wrong PIN that locks the card (two failures before);
- "sync": `padctl sync` of a journal with more unsynced records than one sector holds,
  so that the sync reclaims sectors (an ACK record, SNAPSHOTs, erases).

For each kind a dry run with no cut first counts the transaction's flash operations (the
block device's PAD_FLASH_STATS, from the pad's boot on) and, for the PIN kinds, the bytes
each way on the card and the PSAM wires. The points listed are then every flash operation
with each of the harness's tears (before it, torn after 1, 17, 32, 63 bytes, half, after
it) and every byte each way on both wires. For each point in order the state from before
the transaction is restored (flash image, the card's state file, a fresh PSAM), the
transaction runs with that cut armed, and the cut must fire (covered). Then:

- PIN kinds: a next round, uncut, boots and re-inserts the card, and the Harness checks
  exactly what it checks in `make soak` (boot clean, no tampering reported after a torn
  write, the invariant on the pad's state before it settles with the card, pad and card
  agree after, no crash);
- sync: the pad is powered up again (its boot checked the same way) and the sync re-run to
  completion against the same event store, which then must hold every record exactly once:
  sequence numbers 1..head with no gap, the pre-existing records byte for byte those of the
  dry run, the chain head at the pad's head, everything acknowledged, no alert, no warning.

A violation is recorded with its point and the run goes on; `main()` prints "cut points
covered: X of Y listed" per kind and in total, and the violations with the command that
reproduces each (`python -m padctl.powercut_all --kind K --point P`).
"""
import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from . import link as L
from . import sync as S
from .mpy import HEAP, run_code
from .powercut import Harness, Violation
from .vpsam import VirtualPsam

_STATES = """
import flash, journal, retry
j = journal.Journal(flash.partitions(%r)[1])
r = retry.Retry(j, pad_limit=%d, max_cards=8)
cid = bytearray(16)
cid[0:3] = b"\\x11\\x01\\x05"
for k in range(%d):
    cid[15] = k
    f, p, lk = r.state(cid)
    print("STATE", k, f, "-" if p is None else p, int(lk))
print("END", j.head, j.acked)
"""
_BENCH_CARDS = 40  # the cards tests/fw/bench_fill.py writes records of

KEEPS = (0, 1, 17, 32, 63, None, 4096)  # as Harness.points(): before, torn, half, after
KINDS = ("right", "wrong", "lock", "sync")
SYNC_RECORDS = 200  # > 3 sectors of 63: the sync reclaims three (ACK, SNAPSHOTs, erases)
WRONG = "000000"


def point_str(p):
    return ",".join("half" if x is None else str(x) for x in p)


def parse_point(s):
    f = s.split(",")
    if f[0] == "flash":
        return ("flash", int(f[1]), None if f[2] == "half" else int(f[2]))
    return (f[0], f[1], int(f[2]))


class _Line:
    """The pad's pty for padctl.sync, which fails at once when the pad is off (cut) instead
    of waiting out the link timeout."""

    def __init__(self, port, alive):
        self._s = L.open_port(port)
        self._alive = alive

    def read(self, n=4096):
        data = self._s.read(n)
        if not data and not self._alive():
            raise L.LinkError("the pad is off (power cut)")
        return data

    def __getattr__(self, name):
        return getattr(self._s, name)


class Exhaustive:
    def __init__(self, workdir, heap=HEAP, say=None, skip_pending=False):
        self.dir = Path(workdir).resolve()  # the pad runs from its build folder
        self.heap = heap
        self.skip_pending = skip_pending  # the planted bug (PAD_TEST_SKIP_PENDING): a control
        self.say = say or (lambda *_: None)
        self.results = {}  # kind -> {"listed": [...], "covered": set(), "seconds": s, ...}
        self.violations = []  # (kind, point, message)
        self._h = None

    # --- state -------------------------------------------------------------------------
    def _harness(self, sub):
        return Harness(self.dir / sub, heap=self.heap, wake=True, say=self.say,
                       skip_pending=self.skip_pending)

    def _snapshot(self, h, tag):
        d = h.sim.dir / ("snap-" + tag)
        d.mkdir(exist_ok=True)
        h.sim.kill()
        shutil.copyfile(h.sim.flash, d / "flash.img")
        shutil.copyfile(h.sim.card_path, d / "card.json")
        return d, h.sim.card_path

    def _restore(self, h, snap):
        d, card = snap
        h.sim.kill()
        h.sim.pull()
        shutil.copyfile(d / "flash.img", h.sim.flash)
        shutil.copyfile(d / "card.json", card)
        h.sim.card_path = card
        h.sim.psam_slot.insert(VirtualPsam(h.sim.psam_path))

    def _measure(self, h, run):
        """run() with PAD_FLASH_STATS set: (programs, erases) the pad did."""
        stats = h.sim.dir / "dry.stats"
        if stats.exists():
            stats.unlink()
        h.env["PAD_FLASH_STATS"] = str(stats)
        try:
            out = run()
        finally:
            del h.env["PAD_FLASH_STATS"]
        programs, erases = (int(x) for x in stats.read_text().split()[:2])
        return out, programs, erases

    # --- the PIN transactions -------------------------------------------------------------
    def _pin_setup(self, kind):
        """The Harness and the state before the transaction; the PIN it enters."""
        if self._h is None:
            self._h = self._harness("pin")
        h = self._h
        h.sim.new_card()
        before = {"right": 1, "wrong": 0, "lock": h.limit - 1}[kind]
        for _ in range(before):
            h.round(None, WRONG)
        pin = h.sim.pin if kind == "right" else WRONG
        return h, self._snapshot(h, kind), pin

    def pin_points(self, kind):
        h, snap, pin = self._pin_setup(kind)
        self._restore(h, snap)
        (outcome, died), programs, erases = self._measure(h, lambda: h.round(None, pin))
        want = {"right": "PIN OK", "wrong": "Wrong PIN", "lock": "Card locked"}[kind]
        if died or outcome != want:
            raise Violation("%s: the uncut transaction ended in %r (died %s), not %r"
                            % (kind, outcome, died, want))
        card = (h.sim.card_slot.rx, h.sim.card_slot.tx)
        psam = (h.sim.psam_slot.rx, h.sim.psam_slot.tx)
        ops = programs + erases
        pts = [("flash", n, keep) for n in range(1, ops + 1) for keep in KEEPS]
        for wire, (rx, tx) in (("card", card), ("psam", psam)):
            pts += [(wire, "rx", i) for i in range(rx)]
            pts += [(wire, "tx", i) for i in range(tx)]
        info = "%d flash operations (%d programs, %d erases), card wire %d+%d bytes, " \
               "PSAM wire %d+%d bytes" % (ops, programs, erases, card[0], card[1],
                                          psam[0], psam[1])
        return h, snap, pin, pts, info

    def _pin_cut(self, h, snap, pin, point):
        """One point: restore, cut, check with the next boot and insertion. True if the
        cut fired; Violation from the Harness's checks."""
        self._restore(h, snap)
        _, died = h.round(point, pin)
        h.round(None, WRONG)  # boot and re-insertion: the Harness's checks
        return died

    # --- the sync ----------------------------------------------------------------------
    def _sync_setup(self):
        from .bench import fill_journal
        h = self._harness("sync")
        fill_journal(h.sim, SYNC_RECORDS)
        return h, self._snapshot(h, "sync")

    def _sync_run(self, h, db, env=None):
        """Power the pad up with its link and sync into db: the SyncResult, or None when
        the pad died (at boot or during the sync), or the SyncError of a live pad."""
        sim = h.sim
        mark = sim.ui.mark()
        sim.start(env=env or h.env, heap=self.heap, link=True)
        try:
            if h._wait("insert card", mark) is None:
                return None
            h._check_boot()
            key = bytes.fromhex(sim.config["link_key"])
            line = _Line(sim.port, sim.alive)
            try:
                return S.sync(line, db, key, patience=0, quiet=0.01)
            except S.SyncError as e:
                return None if not sim.alive() else e
            finally:
                line._s.close()
        finally:
            if sim.resets:
                raise Violation("the pad crashed and reset itself (%d)" % sim.resets)
            sim.stop()

    @staticmethod
    def _stored(db):
        c = sqlite3.connect(str(db))
        try:
            recs = c.execute("SELECT epoch, seq, raw FROM records ORDER BY epoch, seq").fetchall()
            chains = c.execute("SELECT epoch, head_seq, acked FROM chains").fetchall()
            alerts = c.execute("SELECT seq, reason FROM alerts").fetchall()
        finally:
            c.close()
        return recs, chains, alerts

    def _check_store(self, db, res, ref):
        if not isinstance(res, S.SyncResult):
            raise Violation("the re-run sync did not complete: %s" % (res or "the pad died"))
        if res.warnings:
            raise Violation("the re-run sync warned: %s" % "; ".join(res.warnings))
        recs, chains, alerts = self._stored(db)
        if alerts:
            raise Violation("the store raised alerts: %r" % alerts)
        seqs = [s for _, s, _ in recs]
        if seqs != list(range(1, len(seqs) + 1)):
            raise Violation("records lost, stored twice or out of order: seqs %r" % seqs)
        if {e for e, _, _ in recs} != {res.epoch}:
            raise Violation("records of other epochs stored: %r" % {e for e, _, _ in recs})
        if len(seqs) != res.head or res.acked != res.head:
            raise Violation("the store holds 1..%d, the pad's head is %d, acknowledged %d"
                            % (len(seqs), res.head, res.acked))
        if chains != [(res.epoch, res.head, res.head)]:
            raise Violation("chain head %r, the pad's head %d" % (chains, res.head))
        want = {s: r for s, r in ref.items() if s != "states"}
        got = {s: bytes(r) for _, s, r in recs if s in want}
        if got != want:
            bad = sorted(s for s in want if got.get(s) != want[s])
            raise Violation("records present before the sync differ from the dry run's: %r"
                            % bad[:10])

    def _pad_states(self, h):
        """The pad's retry state of each card of the filled journal, read by the firmware's
        own journal.py and retry.py from a copy of the flash image."""
        copy = h.sim.dir / "states.img"
        shutil.copyfile(h.sim.flash, copy)
        r = run_code(_STATES % (str(copy), h.limit, _BENCH_CARDS), heap="512k")
        if r.returncode != 0 or "END" not in r.stdout:
            raise Violation("reading the pad's retry states failed: %s %s"
                            % (r.stdout[-500:], r.stderr[-500:]))
        return [line for line in r.stdout.splitlines() if line.startswith("STATE ")]

    def sync_points(self):
        h, snap = self._sync_setup()
        self._restore(h, snap)
        db = h.sim.dir / "dry.db"
        res, programs, erases = self._measure(h, lambda: self._sync_run(h, db))
        self._check_store(db, res, {})
        if erases < 1:
            raise Violation("the uncut sync reclaimed no sector (%d erases)" % erases)
        ref = {s: bytes(r) for _, s, r in self._stored(db)[0] if s <= SYNC_RECORDS}
        before = self._pad_states(h)
        if not any(line.split()[2] != "0" for line in before):
            raise Violation("no card with failures in the filled journal: %r" % before)
        self._restore(h, snap)
        if self._pad_states(h) != before:
            raise Violation("the uncut sync changed the pad's retry states")
        ref["states"] = before
        ops = programs + erases
        pts = [("flash", n, keep) for n in range(1, ops + 1) for keep in KEEPS]
        info = "%d flash operations (%d programs, %d erases) from the boot on, %d records " \
               "stored, head %d" % (ops, programs, erases, res.stored, res.head)
        return h, snap, ref, pts, info

    def _sync_cut(self, h, snap, ref, point):
        self._restore(h, snap)
        db = h.sim.dir / "cut.db"
        for p in (db, db.with_name(db.name + "-journal")):
            if p.exists():
                p.unlink()
        env = dict(h.env, PAD_TEAR_AT=str(point[1]))
        if point[2] is not None:
            env["PAD_TEAR_KEEP"] = str(point[2])
        first = self._sync_run(h, db, env)
        if isinstance(first, S.SyncError):
            raise Violation("the sync failed with the pad alive: %s" % first)
        died = first is None
        res = self._sync_run(h, db)  # power up again, sync to completion
        self._check_store(db, res, ref)
        self.results["sync"]["checks"] = self.results["sync"].get("checks", 0) + 1
        states = self._pad_states(h)
        if states != ref["states"]:
            raise Violation("the pad's retry states differ after the cut and the re-run sync "
                            "(a failure run lost in the reclaim?): %r, before %r"
                            % ([x for x in states if x not in ref["states"]],
                               [x for x in ref["states"] if x not in states]))
        return died

    # --- the campaign ------------------------------------------------------------------
    def run(self, kinds=KINDS, only=None, select=None):
        """only: one point to run (a reproduction) instead of all of them; select: a
        predicate on points, to run only some (a control; the run is then no full one)."""
        for kind in kinds:
            t = time.monotonic()
            if kind == "sync":
                h, snap, ref, pts, info = self.sync_points()
                cut = lambda p: self._sync_cut(h, snap, ref, p)  # noqa: E731
            else:
                h, snap, pin, pts, info = self.pin_points(kind)
                cut = lambda p: self._pin_cut(h, snap, pin, p)  # noqa: E731
            self.say("%s: %s; %d cut points" % (kind, info, len(pts)))
            r = self.results[kind] = {"listed": pts, "covered": set(), "info": info,
                                      "missed": []}
            checked = h.checked
            if select:
                pts = r["listed"] = [p for p in pts if select(p)]
            for p in ([only] if only else pts):
                try:
                    fired = cut(p)
                except Violation as e:
                    h.sim.kill()
                    self.violations.append((kind, p, str(e)))
                    self.say("VIOLATION %s %s: %s" % (kind, point_str(p), e))
                    fired = True  # the cut happened; what followed broke a rule
                (r["covered"].add(p) if fired else r["missed"].append(p))
            r["seconds"] = time.monotonic() - t
            # PIN kinds: the Harness's insertion checks (invariant, agreement) that passed,
            # two a point (the cut round's own insertion, when it got there, and the next)
            r["checks"] = h.checked - checked if kind != "sync" else r.get("checks", 0)
            if only is None:
                self.say(self.line(kind))
            if kind == "sync":
                h.close()
        return self

    def line(self, kind):
        r = self.results[kind]
        return ("%s: cut points covered: %d of %d listed (%.0f s, %d checks passed)%s"
                % (kind, len(r["covered"]), len(r["listed"]), r["seconds"], r["checks"],
                   "; not reached: " + " ".join(map(point_str, r["missed"][:20]))
                   if r["missed"] else ""))

    def totals(self):
        listed = sum(len(r["listed"]) for r in self.results.values())
        covered = sum(len(r["covered"]) for r in self.results.values())
        return covered, listed

    def close(self):
        if self._h is not None:
            self._h.close()
            self._h = None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m padctl.powercut_all",
                                 description="power cuts at every point of one transaction "
                                             "of each kind")
    ap.add_argument("--dir", default="build/soak-all", help="work folder (emptied first)")
    ap.add_argument("--kind", action="append", choices=KINDS, help="only these kinds")
    ap.add_argument("--point", help="only this point (e.g. flash,3,17 or card,tx,40)")
    ap.add_argument("--heap", default=HEAP)
    a = ap.parse_args(argv)
    shutil.rmtree(a.dir, ignore_errors=True)
    t = time.monotonic()
    ex = Exhaustive(a.dir, a.heap, say=lambda m: print(m, flush=True))
    try:
        ex.run(a.kind or KINDS, parse_point(a.point) if a.point else None)
    finally:
        ex.close()
    covered, listed = ex.totals()
    if a.point:
        for kind, r in ex.results.items():
            print("%s: point %s %s" % (kind, a.point, "cut" if r["covered"] else
                                       "NOT REACHED: the pad was never cut there"))
        covered = listed = sum(len(r["covered"]) for r in ex.results.values())
    else:
        print("total: cut points covered: %d of %d listed, %d violation(s), %.0f s"
              % (covered, listed, len(ex.violations), time.monotonic() - t))
    for kind, p, msg in ex.violations:
        print("violation: %s at %s: %s\n  reproduce: .venv/bin/python -m padctl.powercut_all "
              "--kind %s --point %s" % (kind, point_str(p), msg, kind, point_str(p)))
    return 0 if covered == listed and not ex.violations else 1


if __name__ == "__main__":
    sys.exit(main())
