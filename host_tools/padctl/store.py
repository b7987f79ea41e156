"""The host's event store: every journal record pulled from the pads, verified first.

SQLite (default ``$XDG_DATA_HOME/padctl/events.db``). A record is stored only after its
CRC, epoch, sequence number and MAC chain check out against what the store already
holds for that pad and epoch (docs/protocol.md sections 8 and 9). One pull's records go
in in one transaction; the chain head is stored with them, so a sync broken at any
point continues from exactly what is stored: nothing is lost, nothing stored twice.
"""
import os
import sqlite3
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .crypto import ct_equal

RECORD = 64
MAGIC = 0x4A
FLAG_RTC = 1
ZERO_MAC = bytes(16)

# Record kinds (docs/protocol.md 8.3, firmware/journal.py)
KINDS = {
    1: "BOOT", 2: "CUT", 3: "TAMPER", 4: "POWER_RECOVERY", 5: "PENDING", 6: "PIN_OK",
    7: "PIN_WRONG", 8: "LOCK", 9: "NOT_DELIVERED", 10: "PIN_ERROR", 11: "CARD_REFUSED",
    12: "UNLOCK", 13: "RESET", 14: "CHANGE", 15: "AUTH_REFUSED", 16: "SNAPSHOT",
    17: "CRASH", 18: "FULL", 19: "ACK", 20: "PROVISION", 21: "DEVICE", 22: "WINDOW",
}
KIND_CODES = {v: k for k, v in KINDS.items()}
# the card state an event leaves behind (cards())
STATE_OF = {"PIN_OK": "ok", "PIN_WRONG": "ok", "CHANGE": "ok", "LOCK": "locked",
            "UNLOCK": "unlocked", "RESET": "reset"}

# the app's reasons in CARD_REFUSED / PIN_ERROR (data byte 0), and after reason 04 (card
# I/O) the card fault's code (data byte 1): docs/protocol.md sections 4a and 6
REASONS = {1: "not a social security card", 2: "card of another region or key version",
           3: "card not genuine", 4: "card I/O", 5: "PSAM absent or failing",
           6: "forged card answer"}
CARD_FAULTS = {0: "other", 1: "timeout or wait cap", 2: "bad ATR check byte (TCK)",
               3: "no T=0 (T=1 only)", 4: "inverse convention", 5: "malformed ATR",
               6: "malformed answer", 7: "card removed", 8: "status word refused"}


def reason(kind, data):
    """What a CARD_REFUSED or PIN_ERROR record's data says, in words (None for other
    kinds). PIN_ERROR data is either a reason (byte 0 below 60) or a status word (SW1
    6X / 9X) that settled nothing."""
    data = bytes(data)
    if kind not in ("PIN_ERROR", "CARD_REFUSED") or not data:
        return None
    if kind == "PIN_ERROR" and len(data) == 2 and data[0] >= 0x60:
        return "card answered SW %s" % data.hex().upper()
    text = REASONS.get(data[0], "reason %02X" % data[0])
    if data[0] == 4 and len(data) > 1:
        text += ": " + CARD_FAULTS.get(data[1], "code %02X" % data[1])
    return text


# what the other kinds' data says (docs/protocol.md 8.3, 8.5, 9.4)
LOCK_REASONS = {0: "found locked", 1: "the card's limit", 2: "the pad's limit"}
RECOVERY = {1: "delivered and failed", 2: "not delivered", 3: "succeeded or unblocked elsewhere",
            4: "the card cannot report: counted as failed"}
TAMPER_FOUND = {1: "a slot fails its CRC", 2: "a seq out of order", 3: "a record of another epoch",
                4: "an erased slot before records", 5: "a sector outside the ring holding records",
                6: "a sector of another epoch", 7: "records missing at the tail",
                8: "MAC chain broken"}
LINK_ERRORS = {5: "MAC wrong", 6: "stale nonce (replay or old session)", 11: "record MAC mismatch"}


def _tries(b):
    return "none" if b == 0xFF else str(b)


def describe(kind, data):
    """A record's data in words, for a clerk (reason() for PIN_ERROR and CARD_REFUSED);
    "" when there is nothing to say. Never raises on odd data: then its hex."""
    d = bytes(data)
    why = reason(kind, d)
    if why:
        return why
    try:
        if kind == "PENDING":
            return "%d tries left before it, pad limit %d%s" % (
                d[0], d[1], ", read authenticated" if len(d) > 2 and d[2] & 1 else "")
        if kind == "PIN_WRONG":
            return "%d tries left, %d failure(s) in a row" % (d[0], d[1])
        if kind == "LOCK":
            return "locked: %s, %d failure(s)" % (LOCK_REASONS.get(d[0], "reason %d" % d[0]),
                                                 d[1])
        if kind == "POWER_RECOVERY":
            return "after a power cut: %s; tries left now %s, %d failure(s)" % (
                RECOVERY.get(d[0], "outcome %d" % d[0]), _tries(d[1]), d[2])
        if kind == "NOT_DELIVERED":
            return "PIN not delivered (card answered SW %s)" % d[:2].hex().upper()
        if kind == "SNAPSHOT":
            flags = [n for b, n in ((1, "locked"), (2, "cleared"), (4, "authenticated"))
                     if d[3] & b]
            return "state kept at a reclaim: %d failure(s), pending %s%s" % (
                d[0], _tries(d[1]), (", " + ", ".join(flags)) if flags else "")
        if kind in ("TAMPER", "AUTH_REFUSED"):
            if d[:1] == b"L" and len(d) >= 3:
                return "host link: %s in a %r frame" % (
                    LINK_ERRORS.get(d[2], "error %d" % d[2]), chr(d[1]) if 32 < d[1] < 127
                    else "0x%02x" % d[1])
            if len(d) == 8:
                return "found at opening: %s at seq %d (sector %d, slot %d)" % (
                    TAMPER_FOUND.get(d[4], "reason %d" % d[4]),
                    struct.unpack_from(">I", d)[0], struct.unpack_from(">H", d, 5)[0], d[7])
            if d[:1] == b"\x06":
                return "a forged card answer"
        if kind == "CUT":
            return "power cut: seq %d torn, %d bad slot(s) at sector %d slot %d" % (
                struct.unpack_from(">I", d)[0], d[7], struct.unpack_from(">H", d, 4)[0], d[6])
        if kind == "FULL":
            if not d:
                return "card refused: journal full"
            if d[0] == 1:
                return "journal full: pad events only counted from here"
            return "%d event(s) missed while full, over %d boot(s)" % struct.unpack_from(
                ">HH", d, 1)
        if kind == "ACK":
            return "host acknowledged up to %d" % struct.unpack_from(">I", d)[0]
        if kind == "PROVISION":
            return "provisioned (epoch before: %d)" % struct.unpack_from(">I", d)[0]
        if kind == "BOOT":
            n = d[0] if d else 0
            return ("boot" + (" in service mode" if d[1:2] == b"\x01" else "")
                    + (", %d journal problem(s) found" % n if n else ""))
        if kind == "CRASH":
            return "crashed: %s" % d.rstrip(b"\0").decode("ascii", "replace")
    except (IndexError, struct.error):
        pass
    return d.hex()


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pads (
    pad_id TEXT PRIMARY KEY, version TEXT, epoch INTEGER, head INTEGER, acked INTEGER,
    free INTEGER, last_seen REAL);
CREATE TABLE IF NOT EXISTS records (
    pad_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    kind INTEGER NOT NULL, flags INTEGER NOT NULL, boot INTEGER NOT NULL,
    time INTEGER NOT NULL, card_id TEXT, data BLOB NOT NULL, mac BLOB NOT NULL,
    raw BLOB NOT NULL, stored_at REAL NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (pad_id, epoch, seq));
CREATE INDEX IF NOT EXISTS records_card ON records (card_id);
CREATE INDEX IF NOT EXISTS records_at ON records (at);
CREATE TABLE IF NOT EXISTS chains (
    pad_id TEXT NOT NULL, epoch INTEGER NOT NULL, head_seq INTEGER NOT NULL,
    head_mac BLOB NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
    anchor INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pad_id, epoch));
CREATE TABLE IF NOT EXISTS alerts (
    pad_id TEXT NOT NULL, epoch INTEGER, seq INTEGER, reason TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'tampering');
CREATE TABLE IF NOT EXISTS quarantine (
    pad_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (pad_id, epoch, raw));
"""
SCHEMA_VERSION = "2"
# schema 1 -> 2: alerts get a kind; bad records are kept raw in quarantine
MIGRATIONS = {"1": ["ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'tampering'"]}


EVENT_COLS = "pad_id, epoch, seq, kind, flags, boot, time, card_id, data, at"


class StoreError(Exception):
    """The database cannot be opened or used."""


class TamperError(Exception):
    """A record that does not verify: forged, replayed, reordered, dropped or truncated."""

    def __init__(self, pad_id, seq, reason, epoch=None, code="tamper"):
        self.pad_id = pad_id
        self.seq = seq
        self.reason = reason
        self.epoch = epoch
        self.code = code  # what failed: crc, magic, epoch, length, truncated, replay, gap,
        # mac (a record), or tamper (the journal as a whole)
        Exception.__init__(self, "pad %s: record %s: %s" % (pad_id, seq, reason))


@dataclass
class Record:
    seq: int
    epoch: int
    kind: int
    flags: int
    boot: int
    time: int
    card_id: bytes
    data: bytes
    mac: bytes
    raw: bytes

    @property
    def card_hex(self):
        return None if self.card_id == bytes(16) else self.card_id.hex()


def parse_record(raw):
    """The fields of one 64-byte record slot (docs/protocol.md 8); no checks but the size."""
    raw = bytes(raw)
    if len(raw) != RECORD:
        raise ValueError("a record is 64 bytes, got %d" % len(raw))
    epoch, seq, boot, _, t = struct.unpack_from(">IIHHI", raw, 4)
    return Record(seq, epoch, raw[1], raw[2], boot, t, raw[20:36],
                  raw[36:36 + min(raw[3], 8)], raw[44:60], raw)


@dataclass
class Chain:
    head_seq: int
    head_mac: bytes
    acked: int
    anchor: int


def verify_records(raws, pad_id, epoch, prev_seq, prev_mac, journal_mac):
    """Check raws against the chain head (prev_seq, prev_mac); prev_mac None: the first
    record is an anchor (its own MAC is taken, not checked). Returns (good records, error):
    error is None, or the TamperError of the first record that fails; nothing after it
    is returned."""
    good = []
    for raw in raws:
        expected = prev_seq + 1 if prev_seq is not None else None
        if len(raw) != RECORD:
            return good, TamperError(pad_id, expected, "truncated record (%d bytes)" % len(raw), epoch, "truncated")
        r = parse_record(raw)
        if raw[0] != MAGIC:
            return good, TamperError(pad_id, r.seq, "not a record (magic %02x)" % raw[0], epoch, "magic")
        if zlib.crc32(raw[:60]) != struct.unpack_from(">I", raw, 60)[0]:
            return good, TamperError(pad_id, r.seq, "CRC wrong (corrupted or altered)", epoch, "crc")
        if r.epoch != epoch:
            return good, TamperError(pad_id, r.seq, "record of epoch %d in epoch %d (replayed)"
                                     % (r.epoch, epoch), epoch, "epoch")
        if expected is not None and r.seq < expected:
            return good, TamperError(pad_id, r.seq, "replayed or reordered: seq %d where %d was due"
                                     % (r.seq, expected), epoch, "replay")
        if expected is not None and r.seq > expected:
            return good, TamperError(pad_id, expected, "dropped: seq %d where %d was due"
                                     % (r.seq, expected), epoch, "gap")
        if r.raw[3] > 8:
            return good, TamperError(pad_id, r.seq, "data length %d" % r.raw[3], epoch, "length")
        if prev_mac is not None and not ct_equal(journal_mac(prev_mac, raw[:44]), r.mac):
            return good, TamperError(pad_id, r.seq, "MAC does not chain (forged or altered)",
                                     epoch, "mac")
        good.append(r)
        prev_seq, prev_mac = r.seq, r.mac
    return good, None


def err_seq(raw):
    """The seq field of a raw record slot."""
    return struct.unpack_from(">I", raw, 8)[0]


def default_path():
    """events.db in the user's data folder (platformdirs: $XDG_DATA_HOME/padctl, else
    ~/.local/share/padctl on Linux)."""
    from platformdirs import user_data_dir
    return Path(user_data_dir("padctl", appauthor=False)) / "events.db"


def _create_private(path):
    """Make the store's file owner-only (0600) before SQLite opens it: it holds card ids.
    SQLite gives its -wal and -shm files the database file's mode. An existing file is
    left as it is."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def parse_when(value):
    """Unix seconds from a number, or an ISO date / date-time (local time)."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import datetime
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError("not a time: %r (use seconds or YYYY-MM-DD[THH:MM[:SS]])" % value) from None


def kind_code(kind):
    if kind is None or isinstance(kind, int):
        return kind
    if kind.isdigit():
        return int(kind)
    try:
        return KIND_CODES[kind.upper()]
    except KeyError:
        raise ValueError("unknown kind %r (one of %s)" % (kind, ", ".join(KIND_CODES))) from None


class Store:
    def __init__(self, path=None, clock=time.time, create=True):
        """create=False (the read commands): a store that does not exist is a StoreError
        saying so, and none is made."""
        self.path = Path(path) if path is not None else default_path()
        self.clock = clock
        if not create and not self.path.exists():
            raise StoreError("no event store at %s yet: nothing has been synced (padctl sync "
                             "makes it; --db names another)" % self.path)
        try:
            _create_private(self.path)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            # write-ahead log, synced at every commit: a batch is durable when ingest()
            # returns, before the sync acknowledges it (one fsync of the log per batch)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None and row[0] in MIGRATIONS:
                self.db.execute("BEGIN IMMEDIATE")
                for stmt in MIGRATIONS[row[0]]:
                    self.db.execute(stmt)
                self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (SCHEMA_VERSION,))
                self.db.execute("COMMIT")
                row = (SCHEMA_VERSION,)
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StoreError("%s has schema %s; this padctl knows %s"
                                 % (self.path, row[0], SCHEMA_VERSION))
        except (sqlite3.Error, OSError) as e:
            raise StoreError("cannot open the event store %s: %s" % (self.path, e)) from None

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- chains ---------------------------------------------------------------------------

    def chain(self, pad_id, epoch):
        row = self.db.execute("SELECT head_seq, head_mac, acked, anchor FROM chains"
                              " WHERE pad_id=? AND epoch=?", (pad_id, epoch)).fetchone()
        return Chain(row[0], bytes(row[1]), row[2], row[3]) if row else None

    def max_epoch(self, pad_id):
        row = self.db.execute("SELECT MAX(epoch) FROM chains WHERE pad_id=?", (pad_id,)).fetchone()
        return row[0]

    def note_pad(self, pad_id, version, epoch, head, acked, free):
        self.db.execute("INSERT OR REPLACE INTO pads VALUES (?,?,?,?,?,?,?)",
                        (pad_id, version, epoch, head, acked, free, self.clock()))

    def mark_acked(self, pad_id, epoch, acked):
        self.db.execute("UPDATE chains SET acked=MAX(acked, ?) WHERE pad_id=? AND epoch=?",
                        (acked, pad_id, epoch))

    def alert(self, pad_id, epoch, seq, reason, kind="tampering"):
        """kind: tampering, re-anchor, rollback, re-provisioning, gap."""
        self.db.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?)",
                        (pad_id, epoch, seq, reason, self.clock(), kind))

    def alerts(self, pad_id=None):
        pad_id = pad_id and pad_id.lower()
        q = "SELECT pad_id, epoch, seq, kind, reason, at FROM alerts"
        rows = self.db.execute(q + (" WHERE pad_id=?" if pad_id else "") + " ORDER BY at, rowid",
                               (pad_id,) if pad_id else ()).fetchall()
        return [dict(zip(("pad", "epoch", "seq", "kind", "reason", "at"), r)) for r in rows]

    def quarantined(self, pad_id=None):
        """The bad records kept raw (evidence), oldest first."""
        q = "SELECT pad_id, epoch, seq, reason, raw, at FROM quarantine"
        rows = self.db.execute(q + (" WHERE pad_id=?" if pad_id else "") + " ORDER BY at, rowid",
                               (pad_id,) if pad_id else ()).fetchall()
        return [{"pad": r[0], "epoch": r[1], "seq": r[2], "reason": r[3], "raw": bytes(r[4]).hex(),
                 "at": r[5]} for r in rows]

    # --- storing --------------------------------------------------------------------------

    def ingest(self, pad_id, epoch, raws, journal_mac, first=None, anchor=False, acked=None):
        """Verify raws against the stored chain of (pad, epoch) and store the good ones
        with the new chain head, and the pad's acknowledged mark `acked` when given (the
        answer to the previous batch's ACK), in one transaction. Without a stored chain the records
        must start the epoch at `first` (default 1, chained from 16 zero bytes), or, with
        anchor=True, they start a chain at `first` whose first MAC cannot be checked (the
        records before it were acknowledged before this store knew the pad).

        A record that fails is reported, then passed (DESIGN 6): kept raw in `quarantine`
        with a TAMPERING alert naming pad, epoch, seq and reason (once: the same bad slot
        pulled again is known), and the chain re-anchored at the next good record (an alert
        too: its own MAC is checked against the bad record's MAC field, which holds when
        only the bad record's body was altered, else it cannot be). Records dropped from
        the chain (a gap) are an alert, and the chain goes on from the record after them.
        Returns (stored records, [TamperError of each new alert], the next seq to pull)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            c = self.chain(pad_id, epoch)
            if c is not None:
                prev_seq, prev_mac = c.head_seq, c.head_mac
            elif anchor:
                prev_seq, prev_mac = (first or 1) - 1, None
            else:
                prev_seq, prev_mac = (first or 1) - 1, ZERO_MAC
                if prev_seq != 0:
                    raise ValueError("a new chain starts at seq 1 unless anchored")
            now = self.clock()
            stored, alerts, rest = [], [], list(raws)
            hint = bad_at = None  # after a bad record: its MAC field and position
            while rest:
                good, err = verify_records(rest, pad_id, epoch, prev_seq, prev_mac, journal_mac)
                if good and hint is not None:  # the first record after a bad one: re-anchor
                    r = good[0]
                    how = ("its MAC chains from the bad record's MAC field (only that record's "
                           "body was altered)" if ct_equal(journal_mac(hint, r.raw[:44]), r.mac)
                           else "its own MAC could not be checked")
                    alerts.append(TamperError(pad_id, r.seq, "chain re-anchored at seq %d after "
                                              "the bad record at %d: %s" % (r.seq, bad_at, how),
                                              epoch, "re-anchor"))
                    hint = None
                stored += good
                if good:
                    prev_seq, prev_mac = good[-1].seq, good[-1].mac
                if err is None:
                    break
                rest = rest[len(good):]
                raw = bytes(rest[0])
                if err.code == "gap":  # records missing: alert, the chain goes on after them
                    alerts.append(TamperError(pad_id, prev_seq + 1, err.reason + " (records %d..%d"
                                              " missing; the chain is re-anchored after them)"
                                              % (prev_seq + 1, err_seq(raw) - 1), epoch, "gap"))
                    prev_seq, prev_mac = err_seq(raw) - 1, None
                    continue
                rest = rest[1:]
                pos = prev_seq + 1
                replay = err.code == "replay"  # an extra copy of an earlier record
                if db.execute("SELECT 1 FROM quarantine WHERE pad_id=? AND epoch=? AND raw=?",
                              (pad_id, epoch, raw)).fetchone() is None:
                    if not replay:
                        err.seq = pos
                    db.execute("INSERT INTO quarantine VALUES (?,?,?,?,?,?)",
                               (pad_id, epoch, err.seq, raw, err.reason, now))
                    alerts.append(err)
                if not replay:  # the bad slot took the next seq's place: a new anchor after it
                    prev_seq, prev_mac = pos, None  # (a replayed copy leaves the chain as is)
                    hint, bad_at = bytes(raw[44:60]).ljust(16, b"\0"), pos
            db.executemany(
                "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(pad_id, epoch, r.seq, r.kind, r.flags, r.boot, r.time, r.card_hex, r.data,
                  r.mac, r.raw, now, r.time if r.flags & FLAG_RTC else now) for r in stored])
            if stored:
                last = stored[-1]
                if c is None:
                    db.execute("INSERT INTO chains VALUES (?,?,?,?,0,?)",
                               (pad_id, epoch, last.seq, last.mac,
                                stored[0].seq if anchor else 0))
                else:  # the head, and the pad's mark (one statement)
                    db.execute("UPDATE chains SET head_seq=?, head_mac=?, acked=MAX(acked, ?)"
                               " WHERE pad_id=? AND epoch=?",
                               (last.seq, last.mac, acked or 0, pad_id, epoch))
                    acked = None
            if acked is not None:
                self.mark_acked(pad_id, epoch, acked)
            for e in alerts:
                db.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?)",
                           (pad_id, epoch, e.seq,
                            ("TAMPERING: " if e.code not in ("re-anchor",) else "") + str(e),
                            now, "re-anchor" if e.code == "re-anchor" else "tampering"))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return stored, alerts, prev_seq + 1

    # --- queries --------------------------------------------------------------------------

    def events(self, pad=None, card=None, kind=None, since=None, until=None):
        """Stored records, oldest first, as dicts (PIN_ERROR and CARD_REFUSED ones with a
        "reason": their data in words, reason()). since / until: seconds or ISO dates,
        compared with the record's time (RTC seconds when the pad had them, else the
        time the host stored it)."""
        where, args = self._where(pad, card, kind, since, until)
        return [self._event(r) for r in self.db.execute(
            "SELECT %s FROM records%s ORDER BY at, pad_id, epoch, seq" % (EVENT_COLS, where),
            args)]

    def events_page(self, f, page, size):
        """One page of events() newest first, f its filters (pad, card, kind, since,
        until): (rows, total, page), page clamped to the last one."""
        where, args = self._where(f.get("pad"), f.get("card"), f.get("kind"), f.get("since"),
                                  f.get("until"))
        total = self.db.execute("SELECT count(*) FROM records" + where, args).fetchone()[0]
        page = min(page, max(1, (total + size - 1) // size))
        rows = self.db.execute(
            "SELECT %s FROM records%s ORDER BY at DESC, pad_id DESC, epoch DESC, seq DESC"
            " LIMIT ? OFFSET ?" % (EVENT_COLS, where), args + [size, (page - 1) * size])
        return [self._event(r) for r in rows], total, page

    @staticmethod
    def _where(pad, card, kind, since, until):
        q, args = [], []
        for cond, value in (("pad_id=?", pad and pad.lower()), ("card_id=?", card and card.lower()),
                            ("kind=?", kind_code(kind)), ("at>=?", parse_when(since)),
                            ("at<?", parse_when(until))):
            if value is not None:
                q.append(cond)
                args.append(value)
        return (" WHERE " + " AND ".join(q) if q else ""), args

    @staticmethod
    def _event(r):
        e = {"pad": r[0], "epoch": r[1], "seq": r[2], "kind": KINDS.get(r[3], str(r[3])),
             "flags": r[4], "boot": r[5], "time": r[6], "card": r[7],
             "data": bytes(r[8]).hex(), "at": r[9]}
        why = reason(e["kind"], r[8])
        if why:  # PIN_ERROR and CARD_REFUSED: their data in words
            e["reason"] = why
        e["what"] = describe(e["kind"], r[8])  # every kind's data in words
        return e

    def cards(self, state=None, card=None):
        """Each card's last known state (ok, locked, unlocked, reset), from its events,
        with its tries left as last reported (None: not reported since its last success,
        unlock or reset); state / card (hex, any case): only those."""
        out = {}
        for e in self.events(card=card):
            st = STATE_OF.get(e["kind"])
            if e["card"] is None or st is None:
                continue
            c = out.setdefault(e["card"], {"card": e["card"], "wrong": 0, "tries": None})
            c["state"] = st
            c["wrong"] = c["wrong"] + 1 if e["kind"] == "PIN_WRONG" else 0
            data = bytes.fromhex(e["data"])
            if e["kind"] == "PIN_WRONG" and data:
                c["tries"] = data[0]
            elif e["kind"] == "LOCK":
                c["tries"] = 0 if data[:1] != b"\x02" else c["tries"]
            elif e["kind"] in ("PIN_OK", "UNLOCK", "RESET"):
                c["tries"] = None
            c.update(pad=e["pad"], seq=e["seq"], last=e["kind"], at=e["at"])
        rows = sorted(out.values(), key=lambda c: c["card"])
        return [c for c in rows if state is None or c["state"] == state.lower()]

    def pads(self, pad=None):
        """Each pad as its last sync found it, with what this store holds of it."""
        q = ("SELECT p.pad_id, p.version, p.epoch, p.head, p.acked, p.free, p.last_seen,"
             " (SELECT COUNT(*) FROM records r WHERE r.pad_id=p.pad_id),"
             " (SELECT COUNT(*) FROM alerts a WHERE a.pad_id=p.pad_id) FROM pads p")
        rows = self.db.execute(q + (" WHERE p.pad_id=?" if pad else "") + " ORDER BY p.pad_id",
                               (pad.lower(),) if pad else ()).fetchall()
        keys = ("pad", "version", "epoch", "head", "acked", "free", "last_seen", "records",
                "alerts")
        return [dict(zip(keys, r)) for r in rows]
