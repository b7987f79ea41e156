"""`make bench`: measured figures per PIN verification and for a 10,000-event sync.

Everything runs the real firmware on the unix-port simulator (padctl.sim); the figures
are measured and printed, never asserted. `python -m padctl.bench [--runs N] [--quick]
[--json] [--heap H]`.

Per PIN verification (one insertion, one VERIFY; the average of N runs after a warm-up
run that also activates the PSAM), for each algorithm suite:

- APDUs (commands the card or PSAM processed; a command re-issued after 6Cxx counts
  twice) and TPDUs (5-byte headers on the wire, GET RESPONSE included) and the bytes
  each way, from the slots' counters and transcripts;
- the wire time those bytes take at the ISO 7816 default rate (372 clocks per ETU at
  3.57 MHz, about 9600 bit/s; 12 ETU per character): bytes * 12 / 9600 s;
- the firmware's CPU time (utime + stime of the micropython process, /proc/<pid>/stat),
  and the wall time from the card's activation to the last answer of card or PSAM (the
  PIN typed the moment it is asked for) as a ratio to the wire time: the simulated wire
  is loopback TCP, with no baud rate, so this is the pad's own share; the time to the
  result screen is given too;
- flash programs and erases per attempt (PAD_FLASH_STATS before and after).

The smallest `-X heapsize` with which a whole story (boot, right PIN, wrong PIN, a sync
of the journal; then the ring filled, a boot on it, one sync of all of it and a right PIN)
passes, by bisection, and its margin below the 64k budget: `micropython.mem_peak` is not in
this build.

The sync: N events appended to the flash image with the real journal before the pad
starts (tests/fw/bench_fill.py), then `padctl.sync.sync` over the pad's pty, its bytes
counted on the host's side of the line: events per second, bytes per event against the
ceiling of a 115200-baud line (11,520 bytes/s), and the host's verify-and-store rate
(Store.ingest, one transaction per PULL answer, WAL synced at every commit) against a
plain SQLite insert of the same rows in the same number of transactions, with the same
durability (its ratio: the store's speed as a share of the plain insert's).
"""
import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .mpy import FWTESTS, ROOT, mp_cmd, mp_env
from .sim import Sim
from .vcard import VirtualCard

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


def count_tpdus(transcript):
    """Command headers in a slot's transcript [("tx"|"rx", bytes)]: every "rx" piece
    except the data of an incoming command, which comes right after a one-byte procedure
    byte (ACK = INS, or ~INS) the card sent for the header before it."""
    n, ins, prev = 0, None, None
    for d, b in transcript:
        if d == "rx":
            body = (ins is not None and prev is not None and prev[0] == "tx"
                    and len(prev[1]) == 1 and prev[1][0] in (ins, ins ^ 0xFF))
            if not body:
                n += 1
                ins = b[1] if len(b) > 1 else None
        prev = (d, b)
    return n


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


def _start(sim, heap, link=False, env=None):
    st = Story(sim)
    sim.start(env=env, heap=heap, link=link)
    st.expect("insert card", "boot")
    return st


# --- per PIN verification -----------------------------------------------------------------

@dataclass
class Wire:
    apdus: float = 0     # commands the processor handled
    tpdus: float = 0     # headers on the wire (GET RESPONSE, re-issues included)
    to_card: float = 0   # bytes pad -> card (the slot's rx)
    from_card: float = 0  # bytes card -> pad (ATR included)

    @property
    def bytes(self):
        return self.to_card + self.from_card

    @property
    def seconds(self):
        return wire_seconds(self.bytes)


@dataclass
class PinRun:
    card: Wire
    psam: Wire
    cpu_s: float
    wall_s: float          # card activation -> the last answer of card or PSAM
    wall_pin_s: float      # keys sent -> the last answer (PIN block, VERIFY)
    screen_s: float        # card activation -> the result screen seen here
    programs: int
    erases: int
    flash_bytes: int


class _SlotMark:
    """A slot's counters at one moment (they restart at each activation)."""

    def __init__(self, slot, proc):
        self.slot, self.proc = slot, proc
        self.act = slot.activations
        self.n = len(slot.transcript)
        self.tx, self.rx = slot.tx, slot.rx
        self.cmds = proc.commands

    def since(self):
        s = self.slot
        fresh = s.activations != self.act
        n, tx, rx = (0, 0, 0) if fresh else (self.n, self.tx, self.rx)
        return Wire(self.proc.commands - self.cmds, count_tpdus(s.transcript[n:]),
                    s.rx - rx, s.tx - tx)


def _settle(slot, quiet=0.02, limit=1.0):
    """Wait until a slot's byte counters stop moving (its thread finished a piece)."""
    end = time.monotonic() + limit
    last = (slot.tx, slot.rx, len(slot.transcript))
    while time.monotonic() < end:
        time.sleep(quiet)
        now = (slot.tx, slot.rx, len(slot.transcript))
        if now == last:
            return
        last = now


def one_verification(sim, story, psam, stats):
    """Measures one insertion + one VERIFY with the right PIN on the running pad."""
    card = Counted(VirtualCard(sim.card_path))
    c_mark = _SlotMark(sim.card_slot, card)
    p_mark = _SlotMark(sim.psam_slot, psam)
    f0 = flash_totals(stats)
    cpu0 = cpu_ticks(sim.proc.pid)
    sim.card_slot.insert(card)
    story.expect("Enter PIN")
    t_keys = time.monotonic()
    sim.ui.press(RIGHT + "E")
    story.expect("PIN OK")
    t_end = time.monotonic()
    cpu1 = cpu_ticks(sim.proc.pid)
    f1 = flash_totals(stats)
    sim.pull()
    story.expect("insert card")
    _settle(sim.card_slot)
    _settle(sim.psam_slot)
    last = max(t for t in (card.answered, psam.answered, card.activated) if t is not None)
    return PinRun(c_mark.since(), p_mark.since(), (cpu1 - cpu0) * TICK, last - card.activated,
                  last - t_keys, t_end - card.activated, f1[0] - f0[0], f1[1] - f0[1],
                  f1[2] - f0[2])


def _mean(values):
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _mean_wire(ws):
    ws = list(ws)
    return Wire(*(_mean(getattr(w, k) for w in ws) for k in ("apdus", "tpdus", "to_card",
                                                              "from_card")))


def bench_pin(suite, runs, heap, workdir, progress=None):
    """The per-verification figures of one suite: a dict (see report())."""
    progress = progress or Progress(quiet=True)
    with Sim(Path(workdir) / ("pin-" + suite), suite=suite) as sim:
        psam = Counted(sim.psam_slot.processor)
        sim.psam_slot.insert(psam)
        stats = sim.dir / "flash.stats"
        story = _start(sim, heap, env={"PAD_FLASH_STATS": str(stats)})
        warm = one_verification(sim, story, psam, stats)
        got = []
        for i in range(runs):
            got.append(one_verification(sim, story, psam, stats))
            progress("%s verifications" % suite, i + 1, runs)
        if sim.card_tries() != sim.limit:
            raise BenchError("%s: the card lost tries on right PINs" % suite)
        sim.stop()
    card, psam_w = _mean_wire(r.card for r in got), _mean_wire(r.psam for r in got)
    wire_s = card.seconds + psam_w.seconds
    wall = _mean(r.wall_s for r in got)
    return {
        "suite": suite, "runs": runs, "heap": heap,
        "card": _wire_dict(card), "psam": _wire_dict(psam_w),
        "wire_s": wire_s,
        "cpu_s": _mean(r.cpu_s for r in got),
        "cpu_ticks_total": round(sum(r.cpu_s for r in got) / TICK),
        "wall_s": wall, "wall_pin_s": _mean(r.wall_pin_s for r in got),
        "screen_s": _mean(r.screen_s for r in got),
        "wall_to_wire": wall / wire_s if wire_s else 0.0,
        "flash_programs": _mean(r.programs for r in got),
        "flash_erases": _mean(r.erases for r in got),
        "flash_bytes": _mean(r.flash_bytes for r in got),
        "psam_activation": _wire_dict(Wire(warm.psam.apdus - psam_w.apdus,
                                           warm.psam.tpdus - psam_w.tpdus,
                                           warm.psam.to_card - psam_w.to_card,
                                           warm.psam.from_card - psam_w.from_card)),
    }


def _wire_dict(w):
    return {"apdus": w.apdus, "tpdus": w.tpdus, "to_card": w.to_card,
            "from_card": w.from_card, "bytes": w.bytes, "wire_s": w.seconds}


# --- the smallest heap ----------------------------------------------------------------------

def _kb(heap):
    m = re.fullmatch(r"(\d+)([kKmM]?)", str(heap))
    if not m:
        raise ValueError("heap size %r: use e.g. 64k" % heap)
    return int(m.group(1)) * {"": 1 / 1024, "k": 1, "m": 1024}[m.group(2).lower()]


def heap_story(sim, heap):
    """The whole flow at one heap size: boot, right PIN, wrong PIN, a sync of the journal;
    then the pad's largest journal: the ring filled (every slot unsynced), a boot on it,
    one sync of all of it, and a right PIN after. Returns None if it passed, else what
    failed."""
    from . import sync as S
    sim.provision()       # a fresh journal: every trial does the same work
    sim.new_card()
    db = sim.dir / ("host-%s.db" % heap)
    st = Story(sim)
    key = bytes.fromhex(sim.config["link_key"])
    try:
        st = _start(sim, heap, link=True)
        st.verify(RIGHT, "PIN OK")
        st.verify(WRONG, "Tries left")
        try:
            res = S.sync(sim.port, db, key, timeout=5.0)
        except S.SyncError as e:
            raise BenchError("sync: %s" % e)
        if res.stored < 5:  # BOOT, PENDING, PIN_OK, PENDING, PIN_WRONG
            raise BenchError("sync stored %d records" % res.stored)
        why = st.crashed()
        if why:
            raise BenchError("after the sync: " + why)
        sim.stop()
        head = fill_journal(sim, "full")
        st = _start(sim, heap, link=True)
        try:
            res = S.sync(sim.port, db, key, timeout=5.0)
        except S.SyncError as e:
            raise BenchError("full-ring sync: %s" % e)
        if res.head < head or res.acked != res.head:
            raise BenchError("full-ring sync: acknowledged %d of head %d" % (res.acked, head))
        st.verify(RIGHT, "PIN OK")
        why = st.crashed()
        if why:
            raise BenchError("after the full-ring sync: " + why)
        return None
    except (BenchError, OSError) as e:  # OSError: the pad's UI connection broke
        why = st.crashed()
        return str(e) if not why or why in str(e) else "%s; %s" % (e, why)
    finally:
        sim.stop()
        log = sim.dir / "pad.log"
        if log.exists():
            log.unlink()
        if db.exists():
            db.unlink()


def min_heap(workdir, lo=32, hi=256, step=2, suite="SM4", confirm=2, also=(64,),
             progress=None):
    """Bisects the smallest heap (KB, on the step grid from lo to hi) with which
    heap_story passes, assuming more heap never hurts; then tries the `confirm` grid
    points above it, which that assumption says pass. Returns a dict: min_kb (None if
    it fails even at hi), the failure seen just below it, the heaps above it that failed
    all the same (`holes`), and every trial's outcome (None: passed), the heaps in
    `also` (the 64k budget) tried whatever the bisection did."""
    progress = progress or Progress(quiet=True)
    trials = {}
    with Sim(Path(workdir) / "heap", suite=suite) as sim:
        def passes(kb):
            k = str(kb)  # as in JSON
            if k not in trials:
                progress.step("heap %dk ..." % kb)
                trials[k] = heap_story(sim, "%dk" % kb)
            return trials[k] is None

        grid = list(range(lo, hi + 1, step))
        if grid[-1] != hi:
            grid.append(hi)
        for kb in also:
            passes(kb)
        if not passes(grid[-1]):
            return {"min_kb": None, "lo": lo, "hi": hi, "step": step, "suite": suite,
                    "failure_below": trials[str(grid[-1])], "holes": [], "trials": trials}
        if passes(grid[0]):
            a = b = 0
        else:
            a, b = 0, len(grid) - 1  # grid[a] fails, grid[b] passes
            while b - a > 1:
                m = (a + b) // 2
                if passes(grid[m]):
                    b = m
                else:
                    a = m
        below = trials.get(str(grid[a])) if b else None
        holes = [kb for kb in grid[b + 1:b + 1 + confirm] if not passes(kb)]
        return {"min_kb": grid[b], "lo": lo, "hi": hi, "step": step, "suite": suite,
                "failure_below": below, "holes": holes, "trials": trials}


# --- the sync ---------------------------------------------------------------------------

class CountingStream:
    """A pyserial port that counts the bytes through it each way."""

    def __init__(self, port):
        self.port = port
        self.sent = 0      # host -> pad
        self.received = 0  # pad -> host

    def read(self, n=1):
        data = self.port.read(n)
        self.received += len(data)
        return data

    def write(self, data):
        self.sent += len(data)
        return self.port.write(data)

    def flush(self):
        self.port.flush()

    @property
    def in_waiting(self):
        return self.port.in_waiting

    def close(self):
        self.port.close()


def fill_journal(sim, events, heap="256k", progress=None):
    """Appends `events` records to the pad's flash image (tests/fw/bench_fill.py);
    events "full": fills the ring as a pad that is never synced does. Returns the head."""
    progress = progress or Progress(quiet=True)
    cmd = mp_cmd(FWTESTS / "bench_fill.py", heap, (sim.flash, events))
    p = subprocess.Popen(cmd, env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=str(ROOT))
    out = []
    for line in p.stdout:
        out.append(line)
        if line.startswith("progress "):
            progress("journal records", int(line.split()[1]),
                     10500 if events == "full" else events)
    if p.wait() != 0 or not out or not out[-1].startswith(
            "filled " if events == "full" else "filled %d " % events):
        raise BenchError("filling the journal failed: " + "".join(out[-6:]))
    return int(out[-1].split()[1])


def bench_sync(events, heap, workdir, progress=None):
    """The sync figures: a dict (see report())."""
    from . import link as L
    from . import sync as S
    from .store import Store
    progress = progress or Progress(quiet=True)
    db = Path(workdir) / "sync-host.db"
    with Sim(Path(workdir) / "sync") as sim:
        t = time.monotonic()
        fill_journal(sim, events, progress=progress)
        fill_s = time.monotonic() - t
        t = time.monotonic()
        _start(sim, heap, link=True)
        boot_s = time.monotonic() - t
        key = bytes.fromhex(sim.config["link_key"])
        stream = CountingStream(L.open_port(sim.port))
        try:
            cpu0 = cpu_ticks(sim.proc.pid)
            t = time.monotonic()
            pulls = []  # records stored after each PULL answer (one transaction each)

            def each(d, n):
                pulls.append(d)
                progress("records synced", d, n)
            res = S.sync(stream, db, key, progress=each)
            sync_s = time.monotonic() - t
            cpu1 = cpu_ticks(sim.proc.pid)
        except S.SyncError as e:
            raise BenchError("sync: %s" % e)
        finally:
            stream.close()
            sim.stop()
        pad_id = bytes.fromhex(res.pad)
    keys = L.Keys(key, pad_id)
    with Store(db) as st:
        raws = [bytes(r[0]) for r in st.db.execute(
            "SELECT raw FROM records WHERE pad_id=? AND epoch=? ORDER BY seq",
            (res.pad, res.epoch))]
        rows = st.db.execute("SELECT * FROM records ORDER BY seq").fetchall()
    if len(raws) != res.stored or res.stored < events:
        raise BenchError("sync stored %d records, %d were generated" % (res.stored, events))
    sizes = [b - a for a, b in zip([0] + pulls, pulls) if b > a]  # records a transaction
    if sum(sizes) != len(raws):  # a re-run (the pad was busy): its counts start again
        sizes = None
    host = host_store_rates(raws, rows, res.pad, res.epoch, keys.journal_mac, workdir,
                            sizes=sizes)
    total = stream.sent + stream.received
    per_record = total / res.stored
    return {
        "events": events, "stored": res.stored, "heap": heap,
        "fill_s": fill_s, "boot_s": boot_s, "sync_s": sync_s,
        "records_per_s": res.stored / sync_s, "events_per_s": events / sync_s,
        "pad_cpu_s": (cpu1 - cpu0) * TICK,
        "bytes_to_pad": stream.sent, "bytes_from_pad": stream.received,
        "bytes_per_record": per_record, "bytes_per_event": total / events,
        "from_pad_per_record": stream.received / res.stored,
        "line_ceiling_records_per_s": LINK_BYTES_PER_S / per_record,
        "line_ceiling_events_per_s": LINK_BYTES_PER_S * events / total,
        "line_s": link_seconds(total),
        **host,
    }


def host_store_rates(raws, rows, pad, epoch, journal_mac, workdir, batch=12, sizes=None):
    """Records per second: Store.ingest as the sync calls it (verify the CRC, sequence
    and MAC chain, store with the chain head, one transaction per PULL answer: `sizes`,
    the records of each, else `batch` a transaction) against a plain executemany of the
    same stored rows in the same transactions, both in WAL mode synced at every commit
    (the store's durability before an ACK); and both in one transaction."""
    from .store import SCHEMA, Store
    if not sizes:
        sizes = [batch] * (len(raws) // batch) + ([len(raws) % batch] if len(raws) % batch else [])
    cuts = [0]
    for n in sizes:
        cuts.append(cuts[-1] + n)

    def fresh(name):
        p = Path(workdir) / name
        for q in (p, Path(str(p) + "-journal"), Path(str(p) + "-wal"), Path(str(p) + "-shm")):
            if q.exists():
                q.unlink()
        return p

    q = "INSERT INTO records VALUES (%s)" % ",".join("?" * len(rows[0]))

    def plain_db(name):
        db = sqlite3.connect(str(fresh(name)), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return db

    # transaction by transaction, in turn (which goes first alternates): both meet the
    # same disk and the same load on the machine
    batched = plain_batched = 0.0
    with Store(fresh("ingest-batched.db")) as st:
        db = plain_db("plain.db")
        try:
            for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
                for turn in ((0, 1) if k % 2 else (1, 0)):
                    t = time.perf_counter()
                    if turn:
                        good, err, _ = st.ingest(pad, epoch, raws[a:b], journal_mac,
                                                 first=a + 1, acked=a or None)
                        batched += time.perf_counter() - t
                        if err or len(good) != b - a:
                            raise BenchError("replayed records do not verify: %s" % err)
                    else:
                        db.execute("BEGIN")
                        db.executemany(q, rows[a:b])
                        db.execute("COMMIT")
                        plain_batched += time.perf_counter() - t
        finally:
            db.close()
    with Store(fresh("ingest-one.db")) as st:
        t = time.perf_counter()
        good, err, _ = st.ingest(pad, epoch, raws, journal_mac)
        one = time.perf_counter() - t
        if err:
            raise BenchError("replayed records do not verify: %s" % err)
    db = plain_db("plain-one.db")
    try:
        t = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(q, rows)
        db.execute("COMMIT")
        plain_one = time.perf_counter() - t
    finally:
        db.close()
    n = len(raws)
    return {"ingest_batch": n / len(sizes), "ingest_transactions": len(sizes),
            "ingest_batched_per_s": n / batched, "ingest_one_tx_per_s": n / one,
            "plain_insert_per_s": n / plain_batched, "plain_one_tx_per_s": n / plain_one,
            "store_ratio": plain_batched / batched,
            "plain_to_ingest_batched": batched / plain_batched,
            "plain_to_ingest_one_tx": one / plain_one}


# --- the report -------------------------------------------------------------------------------

@dataclass
class Options:
    runs: int = 20
    events: int = 10000
    heap: str = None       # the pad's heap for the PIN and sync figures (None: from bisection)
    heap_lo: int = 32
    heap_hi: int = 256
    heap_step: int = 2
    heap_confirm: int = 2  # grid points above the minimum tried as well
    suites: tuple = SUITES


QUICK = dict(runs=1, events=200, heap_lo=32, heap_hi=256, heap_step=56, heap_confirm=0)


def run(opts, workdir, progress=None):
    """All the figures, as one dict; a part that could not run holds {"error": why}."""
    progress = progress or Progress(quiet=True)
    out = {"card_baud": CARD_BAUD, "etu_per_char": ETU_PER_CHAR, "link_baud": LINK_BAUD,
           "link_bytes_per_s": LINK_BYTES_PER_S, "clock_tick_s": TICK}
    t0 = time.monotonic()
    progress.step("smallest heap: bisecting %dk..%dk in %dk steps, one whole story each"
                  % (opts.heap_lo, opts.heap_hi, opts.heap_step))
    out["heap"] = min_heap(workdir, opts.heap_lo, opts.heap_hi, opts.heap_step,
                           confirm=opts.heap_confirm, progress=progress)
    heap = opts.heap
    if heap is None:
        found = out["heap"]["min_kb"]
        heap = "%dk" % max(64, (found or opts.heap_hi) + 16)  # a margin above the edge
    out["run_heap"] = heap
    out["pin"] = {}
    for suite in opts.suites:
        progress.step("%s: %d PIN verifications (one warm-up) at heap %s"
                      % (suite, opts.runs + 1, heap))
        out["pin"][suite] = _guard(bench_pin, suite, opts.runs, heap, workdir, progress)
    progress.step("sync: %d events through the pad's serial link at heap %s"
                  % (opts.events, heap))
    out["sync"] = _guard(bench_sync, opts.events, heap, workdir, progress)
    out["bench_s"] = time.monotonic() - t0
    return out


def _guard(fn, *args):
    try:
        return fn(*args)
    except BenchError as e:
        return {"error": str(e)}


def report(r, say=print):
    say("PIN verification: one insertion + one VERIFY, the real firmware on the unix port "
        "(heap %s)" % r["run_heap"])
    say("wire time: bytes * %d ETU / %d baud (ISO 7816 default: 372 clocks an ETU at 3.57 MHz)"
        % (r["etu_per_char"], r["card_baud"]))
    for suite, p in r["pin"].items():
        say("")
        if "error" in p:
            say("%s: not measured: %s" % (suite, p["error"]))
            continue
        say("%s, the average of %d run%s after a warm-up run:"
            % (suite, p["runs"], "" if p["runs"] == 1 else "s"))
        say("  %-6s %6s %6s %8s %8s %7s %10s" % ("", "APDUs", "TPDUs", "to it", "from it",
                                                "bytes", "wire time"))
        for name, label in (("card", "card"), ("psam", "PSAM")):
            w = p[name]
            say("  %-6s %6.1f %6.1f %8.1f %8.1f %7.1f %7.1f ms" % (
                label, w["apdus"], w["tpdus"], w["to_card"], w["from_card"], w["bytes"],
                w["wire_s"] * 1e3))
        c, m = p["card"], p["psam"]
        say("  %-6s %6.1f %6.1f %8.1f %8.1f %7.1f %7.1f ms" % (
            "total", c["apdus"] + m["apdus"], c["tpdus"] + m["tpdus"],
            c["to_card"] + m["to_card"], c["from_card"] + m["from_card"],
            c["bytes"] + m["bytes"], p["wire_s"] * 1e3))
        a = p["psam_activation"]
        say("  (once per boot, before the first card: the PSAM's activation, %.0f APDUs, "
            "%.0f TPDUs, %.0f bytes, %.1f ms)" % (a["apdus"], a["tpdus"], a["bytes"],
                                                  a["wire_s"] * 1e3))
        say("  firmware CPU (utime+stime): %.1f ms a transaction (%d ticks of %.0f ms in %d "
            "runs)" % (p["cpu_s"] * 1e3, p["cpu_ticks_total"], r["clock_tick_s"] * 1e3,
                       p["runs"]))
        say("  wall, activation to the last answer: %.1f ms (%.1f ms of it after Enter) = "
            "%.3f x the wire time" % (p["wall_s"] * 1e3, p["wall_pin_s"] * 1e3,
                                      p["wall_to_wire"]))
        say("  wall, activation to the result screen: %.1f ms (the simulated display's socket "
            "included)" % (p["screen_s"] * 1e3))
        say("  flash per attempt: %.2f programs, %.2f erases, %.0f bytes programmed"
            % (p["flash_programs"], p["flash_erases"], p["flash_bytes"]))
    h = r["heap"]
    say("")
    if h["min_kb"] is None:
        say("smallest heap: the whole story fails even at %dk: %s" % (h["hi"], h["failure_below"]))
    else:
        say("smallest heap for the whole story (boot, right PIN, wrong PIN, sync; then a full "
            "ring: boot, one sync of all of it, right PIN; %s): %dk, %dk below the 64k budget "
            "(bisected %dk..%dk in %dk steps: micropython.mem_peak is not in this build)"
            % (h["suite"], h["min_kb"], 64 - h["min_kb"], h["lo"], h["hi"], h["step"]))
        if h["failure_below"]:
            say("  at %dk: %s" % (h["min_kb"] - h["step"], h["failure_below"]))
        for kb in h["holes"]:
            say("  but at %dk, above it: %s" % (kb, h["trials"][str(kb)]))
    if "64" in h["trials"]:
        fits = h["trials"]["64"]
        say("  at 64k: %s" % ("passes" if fits is None else fits))
    s = r["sync"]
    say("")
    if "error" in s:
        say("sync: not measured: %s" % s["error"])
    else:
        say("sync of %d events (generated with the real journal in %.1f s; the pad booted on "
            "them in %.2f s)" % (s["events"], s["fill_s"], s["boot_s"]))
        say("  %d records pulled (the events, BOOT, and the pad's own ACK records) in %.2f s: "
            "%.0f records/s, %.0f events/s" % (s["stored"], s["sync_s"], s["records_per_s"],
                                               s["events_per_s"]))
        say("  pad CPU during the sync: %.2f s, %.0f us a record"
            % (s["pad_cpu_s"], s["pad_cpu_s"] / s["stored"] * 1e6))
        say("  on the line (counted at the host's port): %d bytes to the pad, %d from it; "
            "%.1f bytes a record (%.1f from the pad), %.1f bytes an event"
            % (s["bytes_to_pad"], s["bytes_from_pad"], s["bytes_per_record"],
               s["from_pad_per_record"], s["bytes_per_event"]))
        say("  at %d baud (%d bytes/s) the line alone allows %.0f records/s, %.0f events/s: "
            "this sync takes %.0f s on a real line; the simulator ran at %.1f x that ceiling"
            % (r["link_baud"], r["link_bytes_per_s"], s["line_ceiling_records_per_s"],
               s["line_ceiling_events_per_s"], s["line_s"],
               s["records_per_s"] / s["line_ceiling_records_per_s"]))
        say("  host verify-and-store (Store.ingest as the sync: %d transactions of %.1f "
            "records, one a PULL answer, WAL synced at each commit): %.0f records/s"
            % (s["ingest_transactions"], s["ingest_batch"], s["ingest_batched_per_s"]))
        say("  plain SQLite insert of the same rows in the same transactions, same sync: "
            "%.0f records/s; the store's ratio to the plain insert: %.0f%% (goal 80%%)"
            % (s["plain_insert_per_s"], 100 * s["store_ratio"]))
        say("  in one transaction: verify-and-store %.0f records/s, plain insert %.0f "
            "records/s (%.1f x)" % (s["ingest_one_tx_per_s"], s["plain_one_tx_per_s"],
                                    s["plain_to_ingest_one_tx"]))
    say("")
    say("bench: %.0f s" % r["bench_s"])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m padctl.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="verifications averaged per suite "
                    "(default 20, --quick 1)")
    ap.add_argument("--events", type=int, default=None, help="events synced (default 10000)")
    ap.add_argument("--heap", help="the pad's heap for the PIN and sync figures (default: "
                    "the bisected minimum + 16k, at least 64k)")
    ap.add_argument("--quick", action="store_true", help="small sizes (the smoke test)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--workdir", help="keep the simulator's files here")
    args = ap.parse_args(argv)
    opts = Options(**QUICK) if args.quick else Options()
    if args.runs is not None:
        opts.runs = args.runs
    if args.events is not None:
        opts.events = args.events
    if args.heap:
        try:
            _kb(args.heap)
        except ValueError as e:
            ap.error(str(e))
        opts.heap = args.heap
    if opts.runs < 1 or opts.events < 1:
        ap.error("--runs and --events must be at least 1")
    progress = Progress()
    try:
        if args.workdir:
            r = run(opts, args.workdir, progress)
        else:
            with tempfile.TemporaryDirectory(prefix="padctl-bench-") as tmp:
                r = run(opts, tmp, progress)
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
    else:
        report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
