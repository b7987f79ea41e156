"""padctl forward / padctl region: many windows, one regional PostgreSQL.

``forward(store, url)`` sends what a window's event store holds (records as verified at
the window with their raw bytes and MACs, chain heads, pads, alerts, quarantined
records, and the clerks' ID checks when the store has a ``checks`` table) to a regional
PostgreSQL with psycopg 3:

- batched: records go by binary COPY, a batch per transaction; a batch that meets a
  record already in the region (the same pad synced at another window) goes again
  through a temporary table and INSERT ... ON CONFLICT DO NOTHING;
- idempotent: one row per record (pad, epoch, seq), per alert / quarantined record /
  check (window, its id there);
- resumable after any cut: the window's forwarded marks (the highest rowid of each
  window table already in the region) live in the region's ``windows`` row and move in
  the transaction that brings the rows, so a re-run goes on from exactly what is there;
- safe from many windows at once: each forward locks its own window's row (FOR UPDATE),
  a deadlock or serialization failure re-runs the batch, migrations take an advisory lock.

Schema migrations: the numbered SQL files in ``region_sql/`` (``NNNN_name.sql``), each
applied in one transaction with its row in ``schema_version``.

The window store is only read (one short read transaction per batch; rows below a
mark never change), except that a store without a window id gets one (meta ``window``).
Rowid marks assume the window tables are append-only, as store.py keeps them.

``padctl region cards / events / pads / alerts / card / checks --db URL``: the window's
views across all windows, read-only.
"""
import json
import os
import re
import sqlite3
import struct
import sys
import time
import uuid
import zlib
from pathlib import Path

from .store import KIND_CODES, KINDS, STATE_OF, describe, kind_code, parse_when, reason

LOCK_ID = 0x70616463746C  # pg_advisory_xact_lock key of the migrations ("padctl")
BATCH = 5000
SOURCES = ("records", "alerts", "quarantine", "checks")
REC_COLS = ("pad_id", "epoch", "seq", "kind", "flags", "boot", "time", "card_id", "data", "mac",
            "raw", "stored_at", "at", "window_id")
REC_TYPES = ("text", "int8", "int8", "int2", "int2", "int4", "int8", "text", "bytea", "bytea",
             "bytea", "float8", "float8", "text")
ENV_URL = "PADCTL_REGION_DB"


class RegionError(Exception):
    """A forward or a regional query that cannot go on; str() is the message for the user."""


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise RegionError("psycopg 3 is not installed: pip install 'padctl[region]' "
                          "(or psycopg[binary])") from None
    return psycopg


def connect(url, read_only=False):
    if not url:
        raise RegionError("no regional database: give --db / --to postgresql://... or set %s"
                          % ENV_URL)
    if not re.match(r"^postgres(ql)?://", url):
        raise RegionError("the regional database must be a postgresql:// URL, got %r"
                          % url.split("@")[-1])
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise RegionError("cannot reach the regional database: %s"
                          % str(e).strip().splitlines()[0]) from None
    if read_only:  # the views (and a console pointed at the region) cannot write
        conn.execute("SET default_transaction_read_only = on")
    return conn


# --- migrations -----------------------------------------------------------------------

def migrations():
    """[(version, name, sql)] of region_sql/, in order."""
    out = []
    for p in sorted((Path(__file__).parent / "region_sql").glob("*.sql")):
        m = re.match(r"^(\d+)_(.+)\.sql$", p.name)
        if m:
            out.append((int(m.group(1)), m.group(2), p.read_text()))
    return out


def migrate(conn):
    """Apply the missing migrations, each with its schema_version row, all in one
    transaction (under an advisory lock: windows forwarding at once migrate once).
    Returns the versions applied."""
    known = migrations()
    done = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                     " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        have = {r[0] for r in conn.execute("SELECT version FROM schema_version")}
        if have and max(have) > known[-1][0]:
            raise RegionError("the regional database has schema %d; this padctl knows up to %d"
                              % (max(have), known[-1][0]))
        for version, name, sql in known:
            if version not in have:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                             (version, name))
                done.append(version)
    return done


def check_schema(conn):
    want = migrations()[-1][0]
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    have = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] if row[0] else None
    if have != want:
        raise RegionError("the regional database has %s; this padctl needs schema %d (run "
                          "`padctl region migrate` or a forward first)"
                          % ("no padctl schema" if have is None else "schema %d" % have, want))


# --- the window store, read -------------------------------------------------------------

class WindowStore:
    """Read helpers on a window's SQLite event store (store.py's schema); only reads."""

    NEED = {"records": {"pad_id", "epoch", "seq", "kind", "flags", "boot", "time", "card_id",
                        "data", "mac", "raw", "stored_at", "at"},
            "chains": {"pad_id", "epoch", "head_seq", "head_mac", "acked", "anchor"},
            "pads": {"pad_id", "version", "epoch", "head", "acked", "free", "last_seen"},
            "alerts": {"pad_id", "epoch", "seq", "reason", "at", "kind"},
            "quarantine": {"pad_id", "epoch", "seq", "raw", "reason", "at"}}

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise RegionError("no event store at %s" % self.path)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            tables = {r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            for t, cols in self.NEED.items():
                have = set(self.columns(t)) if t in tables else set()
                if not cols <= have:
                    raise RegionError("%s is not a padctl event store (table %s lacks %s)"
                                      % (self.path, t, ", ".join(sorted(cols - have))))
            # the clerks' ID checks: padctl.window's table (window_checks), or a "checks"
            # table of the same meaning (CHECK_MAP names the columns either may have)
            self.checks_table = next((t for t in ("window_checks", "checks") if t in tables),
                                     None)
            self.has_checks = self.checks_table is not None
            self.check_cols = self.columns(self.checks_table) if self.has_checks else []
        except sqlite3.Error as e:
            raise RegionError("cannot read the event store %s: %s" % (self.path, e)) from None

    def columns(self, table):
        return [r[1] for r in self.db.execute("PRAGMA table_info(%s)" % table)]

    def close(self):
        self.db.close()

    def table(self, source):
        """The store's table of a source (SOURCES): the checks' is the store's own name."""
        return self.checks_table if source == "checks" else source

    def window_id(self, name=None):
        """The store's window id (meta 'window'): made once (name, else a random id)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='window'").fetchone()
        if row is None:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('window', ?)",
                            (name or uuid.uuid4().hex[:16],))
            row = self.db.execute("SELECT value FROM meta WHERE key='window'").fetchone()
        if name and row[0] != name:
            raise RegionError("%s is the store of window %r, not %r" % (self.path, row[0], name))
        return row[0]

    def snapshot(self):
        """In one read transaction: the top rowid of each source table, the chain heads
        and the pads (consistent with the records up to that rowid)."""
        db = self.db
        db.execute("BEGIN")
        try:
            top = {}
            for t in SOURCES:
                if t == "checks" and not self.has_checks:
                    top[t] = 0
                    continue
                top[t] = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM %s"
                                    % self.table(t)).fetchone()[0]
            chains = db.execute("SELECT pad_id, epoch, head_seq, head_mac, acked, anchor"
                                " FROM chains").fetchall()
            pads = db.execute("SELECT pad_id, version, epoch, head, acked, free, last_seen"
                              " FROM pads").fetchall()
        finally:
            db.execute("COMMIT")
        return top, chains, pads

    def rows(self, table, after, upto, limit):
        """Rows of table with after < rowid <= upto, rowid first, at most limit."""
        if after >= upto:
            return []
        cols = {"records": "pad_id, epoch, seq, kind, flags, boot, time, card_id, data, mac,"
                           " raw, stored_at, at",
                "alerts": "pad_id, epoch, seq, kind, reason, at",
                "quarantine": "pad_id, epoch, seq, raw, reason, at",
                "checks": ", ".join('"%s"' % c for c in self.check_cols)}[table]
        return self.db.execute("SELECT rowid, %s FROM %s WHERE rowid > ? AND rowid <= ?"
                               " ORDER BY rowid LIMIT ?" % (cols, self.table(table)),
                               (after, upto, limit)).fetchall()


def check_record(window, row):
    """A window record row as the region stores it, after checking that its raw bytes
    are a record (CRC) whose fields are the row's (the store was not edited since)."""
    pad, epoch, seq, kind, flags, boot, t, card, data, mac, raw = row[1:12]
    raw = bytes(raw)
    if (len(raw) != 64 or zlib.crc32(raw[:60]) != struct.unpack_from(">I", raw, 60)[0]
            or struct.unpack_from(">II", raw, 4) != (epoch, seq) or raw[1] != kind
            or raw[44:60] != bytes(mac)):
        raise RegionError("window %s: pad %s epoch %s record %s: its raw bytes do not match the "
                          "stored record (the event store was altered); nothing of this batch "
                          "was forwarded" % (window, pad, epoch, seq))
    return (pad, epoch, seq, kind, flags, boot, t, card, data, mac, raw, row[12], row[13], window)


# the clerks' checks: window column names -> regional columns
CHECK_MAP = {
    "check_id": ("id", "check_id", "ref"), "at": ("at", "time", "checked_at"),
    "clerk": ("clerk", "clerk_id"), "operation": ("operation", "op"),
    "card_id": ("card_id", "card"), "pad_id": ("pad_id", "pad"),
    "epoch": ("epoch", "record_epoch"), "seq": ("seq", "record_seq"),
    "ref": ("ref", "auth_ref", "reference"),
    "holder_doc_type": ("holder_doc_type", "holder_type", "holder_doc"),
    "holder_masked": ("holder_masked", "holder_mask"),
    "holder_hash": ("holder_hash", "holder_hmac"),
    "agent_doc_type": ("agent_doc_type", "agent_type", "agent_doc"),
    "agent_masked": ("agent_masked", "agent_mask"),
    "agent_hash": ("agent_hash", "agent_hmac"),
}
CHECK_COLS = tuple(CHECK_MAP)
CLEAR_NUMBER = re.compile(r"^\d{17}[\dXx]$")


def _hex_or_bytes(v):
    if v is None or isinstance(v, (bytes, memoryview)):
        return bytes(v) if v is not None else None
    try:
        return bytes.fromhex(str(v))
    except ValueError:
        return str(v).encode()


def check_row(window, cols, row):
    """A window checks row as the region stores it. An ID number in clear (a column
    named like a number that is neither masked nor hashed, or any value that is an
    18-character ID number with a valid check digit) is refused: RegionError."""
    from .idnumber import valid_id
    rec = dict(zip(cols, row[1:]))
    rowid = row[0]
    for c, v in rec.items():
        lc = c.lower()
        clear_name = "number" in lc and not any(w in lc for w in ("mask", "hash", "hmac"))
        if (clear_name and v not in (None, "")) or (
                isinstance(v, str) and CLEAR_NUMBER.match(v) and valid_id(v)):
            raise RegionError("window %s: check %s: column %s holds an ID number in clear; "
                              "checks are forwarded only masked and hashed (nothing of this "
                              "batch was forwarded)" % (window, rec.get("id", rowid), c))
    out = {}
    for dest, names in CHECK_MAP.items():
        out[dest] = next((rec[n] for n in names if n in rec), None)
    if out["check_id"] is None:
        out["check_id"] = rowid
    out["check_id"] = str(out["check_id"])
    for k in ("ref", "holder_hash", "agent_hash"):
        out[k] = _hex_or_bytes(out[k])
    if out["card_id"] is not None:
        out["card_id"] = (out["card_id"].hex() if isinstance(out["card_id"], bytes)
                          else str(out["card_id"]).lower())
    if isinstance(out["pad_id"], bytes):
        out["pad_id"] = out["pad_id"].hex()
    out["at"] = parse_when(out["at"]) if out["at"] is not None else None
    detail = {c: (bytes(v).hex() if isinstance(v, (bytes, memoryview)) else v)
              for c, v in rec.items()}
    return (window,) + tuple(out[c] for c in CHECK_COLS) + (json.dumps(detail),)


# --- forward ----------------------------------------------------------------------------

class Result(dict):
    pass


def _retrying(conn, fn, tries=8):
    """fn() in a transaction; a deadlock or serialization failure runs it again."""
    psycopg = _psycopg()
    for i in range(tries):
        try:
            with conn.transaction():
                return fn()
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if i == tries - 1:
                raise
            time.sleep(0.05 * (i + 1))


def _lock_mark(conn, window, source):
    return conn.execute("SELECT %s_mark FROM windows WHERE window_id=%%s FOR UPDATE" % source,
                        (window,)).fetchone()[0]


def _copy_records(conn, rows):
    """rows into records: straight COPY; if one is already there (another window
    forwarded the pad's record), through a temporary table with ON CONFLICT DO NOTHING,
    and a 'conflict' alert for each one whose bytes differ. Returns the rows new here."""
    psycopg = _psycopg()
    cols = ", ".join(REC_COLS)
    try:
        with conn.transaction():  # a savepoint
            with conn.cursor().copy("COPY records (%s) FROM STDIN (FORMAT BINARY)" % cols) as cp:
                cp.set_types(REC_TYPES)
                for r in rows:
                    cp.write_row(r)
        return len(rows)
    except psycopg.errors.UniqueViolation:
        pass
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS fwd_records (LIKE records)"
                 " ON COMMIT DELETE ROWS")
    with conn.cursor().copy("COPY fwd_records (%s) FROM STDIN (FORMAT BINARY)" % cols) as cp:
        cp.set_types(REC_TYPES)
        for r in rows:
            cp.write_row(r)
    conn.execute(
        "INSERT INTO alerts (window_id, src_id, pad_id, epoch, seq, kind, reason, at)"
        " SELECT f.window_id, 0, f.pad_id, f.epoch, f.seq, 'conflict',"
        " 'TAMPERING: window ' || f.window_id || ' holds another record ' || f.pad_id ||"
        " ' epoch ' || f.epoch || ' seq ' || f.seq || ' than window ' || r.window_id ||"
        " ' forwarded (raw ' || encode(f.raw, 'hex') || ')', extract(epoch FROM now())"
        " FROM fwd_records f JOIN records r USING (pad_id, epoch, seq) WHERE r.raw <> f.raw")
    cur = conn.execute("INSERT INTO records SELECT * FROM fwd_records ORDER BY pad_id, epoch, seq"
                       " ON CONFLICT (pad_id, epoch, seq) DO NOTHING")
    new = cur.rowcount
    conn.execute("DELETE FROM fwd_records")  # the savepoint path may run twice in a txn
    return new


def _put(conn, source, window, rows, cols):
    if source == "records":
        return _copy_records(conn, [check_record(window, r) for r in rows])
    if source == "alerts":
        sql = ("INSERT INTO alerts (window_id, src_id, pad_id, epoch, seq, kind, reason, at)"
               " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (window_id, src_id)"
               " WHERE src_id > 0 DO NOTHING")
        args = [(window,) + tuple(r) for r in rows]
    elif source == "quarantine":
        sql = ("INSERT INTO quarantine (window_id, src_id, pad_id, epoch, seq, raw, reason, at)"
               " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING")
        args = [(window,) + tuple(r) for r in rows]
    else:
        names = ("window_id",) + CHECK_COLS + ("detail",)
        sql = ("INSERT INTO checks (%s) VALUES (%s) ON CONFLICT (window_id, check_id) DO UPDATE"
               " SET %s" % (", ".join(names), ", ".join(["%s"] * len(names)),
                            ", ".join("%s = excluded.%s" % (c, c) for c in names[2:])))
        args = [check_row(window, cols, r) for r in rows]
    with conn.cursor() as cur:
        cur.executemany(sql, args)
        return cur.rowcount  # the rows new here (the cumulated count of executemany)


def forward(store_path, url, window=None, batch=BATCH, progress=None, conn=None):
    """Forward one window store to the region. Returns a dict: window, per source the
    rows sent and new in the region, chains and pads, seconds. Raises RegionError."""
    psycopg = _psycopg()
    t0 = time.monotonic()
    src = WindowStore(store_path)
    own = conn is None
    try:
        conn = conn or connect(url)
        try:
            migrate(conn)
            wid = src.window_id(window)
            conn.execute("INSERT INTO windows (window_id) VALUES (%s) ON CONFLICT DO NOTHING",
                         (wid,))
            top, chains, pads = src.snapshot()
            marks = conn.execute("SELECT records_mark, alerts_mark, quarantine_mark, checks_mark"
                                 " FROM windows WHERE window_id=%s", (wid,)).fetchone()
            behind = [s for s, m in zip(SOURCES, marks) if top[s] < m]
            if behind:  # rows below a mark would never be read: refuse, lose nothing
                raise RegionError("the region already holds more %s of window %s than %s has "
                                  "(a store restored from a backup, rewritten, or copied from "
                                  "another window?): nothing forwarded"
                                  % (" and ".join(behind), wid, store_path))
            res = {"window": wid, "store": str(store_path)}
            todo = sum(top.values())
            done = 0
            for source in SOURCES:
                sent = new = 0
                cols = src.check_cols if source == "checks" else None
                while True:
                    def one():
                        mark = _lock_mark(conn, wid, source)
                        rows = src.rows(source, mark, top[source], batch)
                        if not rows:
                            return mark, 0, 0
                        n = _put(conn, source, wid, rows, cols)
                        conn.execute("UPDATE windows SET %s_mark=%%s, last_forward=now()"
                                     " WHERE window_id=%%s" % source, (rows[-1][0], wid))
                        return rows[-1][0], len(rows), n
                    mark, k, n = _retrying(conn, one)
                    if not k:
                        break
                    sent, new, done = sent + k, new + n, done + k
                    if progress:
                        progress(done, todo)
                res[source] = {"sent": sent, "new": new, "mark": mark}

            def heads():
                _lock_mark(conn, wid, "records")
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO chains VALUES (%s,%s,%s,%s,%s,%s,%s)"
                        " ON CONFLICT (window_id, pad_id, epoch) DO UPDATE SET"
                        " head_seq=excluded.head_seq, head_mac=excluded.head_mac,"
                        " acked=GREATEST(chains.acked, excluded.acked), anchor=excluded.anchor"
                        " WHERE excluded.head_seq >= chains.head_seq",
                        [(wid,) + tuple(c) for c in chains])
                    cur.executemany(
                        "INSERT INTO pads VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                        " ON CONFLICT (window_id, pad_id) DO UPDATE SET version=excluded.version,"
                        " epoch=excluded.epoch, head=excluded.head, acked=excluded.acked,"
                        " free=excluded.free, last_seen=excluded.last_seen"
                        " WHERE excluded.last_seen >= pads.last_seen OR pads.last_seen IS NULL",
                        [(wid,) + tuple(p) for p in pads])
                conn.execute("UPDATE windows SET last_forward=now() WHERE window_id=%s", (wid,))
            _retrying(conn, heads)
            res["chains"], res["pads"] = len(chains), len(pads)
            res["seconds"] = round(time.monotonic() - t0, 3)
            return res
        except psycopg.Error as e:
            raise RegionError("regional database: %s (re-run the forward: nothing is lost or "
                              "doubled)" % str(e).strip().splitlines()[0]) from None
        except sqlite3.Error as e:
            raise RegionError("event store %s: %s (re-run the forward: nothing is lost or "
                              "doubled)" % (store_path, e)) from None
        finally:
            if own and conn is not None:
                conn.close()
    finally:
        src.close()


# --- the region's views -------------------------------------------------------------------

def _event(r):
    e = {"window": r[0], "pad": r[1], "epoch": r[2], "seq": r[3],
         "kind": KINDS.get(r[4], str(r[4])), "flags": r[5], "boot": r[6], "time": r[7],
         "card": r[8], "data": bytes(r[9]).hex(), "at": r[10]}
    why = reason(e["kind"], bytes(r[9]))
    if why:
        e["reason"] = why
    e["what"] = describe(e["kind"], bytes(r[9]))  # every kind's data in words, as the window's
    return e


EVENT_COLS = "window_id, pad_id, epoch, seq, kind, flags, boot, time, card_id, data, at"


def events_sql(pad=None, card=None, kind=None, since=None, until=None, window=None,
               count=False, newest=False):
    """(sql, args) of the events query, oldest first (newest: newest first), or of its
    row count."""
    q = ["SELECT %s FROM records WHERE true" % ("count(*)" if count else EVENT_COLS)]
    args = []
    for cond, value in (("pad_id=%s", pad and pad.lower()), ("card_id=%s", card and card.lower()),
                        ("kind=%s", kind_code(kind)), ("at>=%s", parse_when(since)),
                        ("at<%s", parse_when(until)), ("window_id=%s", window)):
        if value is not None:
            q.append(cond)
            args.append(value)
    order = "" if count else " ORDER BY " + ", ".join(
        c + (" DESC" if newest else "") for c in ("at", "pad_id", "epoch", "seq"))
    return " AND ".join(q) + order, args


def events(conn, pad=None, card=None, kind=None, since=None, until=None, window=None,
           limit=None):
    """The window's events() across windows (each with its "window"), oldest first."""
    sql, args = events_sql(pad, card, kind, since, until, window)
    if limit:
        sql += " LIMIT %d" % int(limit)
    return [_event(r) for r in conn.execute(sql, args)]


CARD_HISTORY = ("SELECT %s FROM records WHERE card_id = %%s ORDER BY at, pad_id, epoch, seq"
                % EVENT_COLS)

STATE_KINDS = tuple(KIND_CODES[k] for k in STATE_OF)


def cards(conn, card=None):
    """Each card's last known state across windows (the window's cards(): the last
    state event decides; wrong = PIN_WRONG since the last other state event); card: only
    that one."""
    wrong = KIND_CODES["PIN_WRONG"]
    rows = conn.execute(
        "WITH ev AS (SELECT card_id, window_id, pad_id, epoch, seq, kind, at,"
        "  count(*) FILTER (WHERE kind <> %(w)s) OVER (PARTITION BY card_id"
        "   ORDER BY at, pad_id, epoch, seq) AS run"
        "  FROM records WHERE card_id IS NOT NULL AND kind = ANY(%(k)s)"
        + (" AND card_id = %(c)s" if card else "") + "),"
        " ev2 AS (SELECT *, count(*) FILTER (WHERE kind = %(w)s) OVER (PARTITION BY card_id, run"
        "   ORDER BY at, pad_id, epoch, seq) AS wrong FROM ev)"
        " SELECT DISTINCT ON (card_id) card_id, wrong, kind, window_id, pad_id, epoch, seq, at"
        " FROM ev2 ORDER BY card_id, at DESC, pad_id DESC, epoch DESC, seq DESC",
        {"w": wrong, "k": list(STATE_KINDS), "c": card and card.lower()})
    out = []
    for card, nwrong, kind, win, pad, epoch, seq, at in rows:
        name = KINDS[kind]
        out.append({"card": card, "wrong": nwrong, "state": STATE_OF[name], "window": win,
                    "pad": pad, "epoch": epoch, "seq": seq, "last": name, "at": at})
    return out


def pads(conn, stale=None, now=None):
    """The pads every window has synced; stale: only those not seen for that many seconds."""
    q = ("SELECT p.window_id, p.pad_id, p.version, p.epoch, p.head, p.acked, p.free, p.last_seen,"
         " c.head_seq FROM pads p LEFT JOIN chains c ON c.window_id = p.window_id AND"
         " c.pad_id = p.pad_id AND c.epoch = p.epoch")
    args = []
    if stale is not None:
        q += " WHERE p.last_seen < %s"
        args.append((now or time.time()) - stale)
    rows = conn.execute(q + " ORDER BY p.last_seen, p.window_id, p.pad_id", args)
    return [dict(zip(("window", "pad", "version", "epoch", "head", "acked", "free", "last_seen",
                      "stored"), r)) for r in rows]


def alerts(conn, pad=None, window=None, kind=None):
    q, args = ["SELECT window_id, pad_id, epoch, seq, kind, reason, at FROM alerts WHERE true"], []
    for cond, value in (("pad_id=%s", pad and pad.lower()), ("window_id=%s", window),
                        ("kind=%s", kind)):
        if value is not None:
            q.append(cond)
            args.append(value)
    rows = conn.execute(" AND ".join(q) + " ORDER BY at, id", args)
    return [dict(zip(("window", "pad", "epoch", "seq", "kind", "reason", "at"), r)) for r in rows]


CHECK_FIELDS = ("check_window", "check_id", "clerk", "checked_at", "operation",
                "holder_doc_type", "holder_masked", "agent_doc_type", "agent_masked", "linked")


# the authorisation's reference: the first 6 bytes of an UNLOCK / RESET record's data
# (protocol.md 8.3: the ref, then the flow's outcome byte)
_REF = "substring(r.data from 1 for 6)"


def card_story(conn, card):
    """Where a card was locked and who unlocked (or reset) it: its history across
    windows, each UNLOCK / RESET with the clerk's ID check that authorised it (linked by
    the record the window named, else by the authorisation's reference in the record's
    data, else the window's latest check of that card and operation before it)."""
    card = card.lower()
    history = [_event(r) for r in conn.execute(CARD_HISTORY, (card,))]
    rows = conn.execute(
        "SELECT r.pad_id, r.epoch, r.seq, c.window_id, c.check_id, c.clerk, c.at, c.operation,"
        " c.holder_doc_type, c.holder_masked, c.agent_doc_type, c.agent_masked, c.linked"
        " FROM records r LEFT JOIN LATERAL ("
        "  SELECT x.*, CASE WHEN x.pad_id = r.pad_id AND x.epoch = r.epoch AND x.seq = r.seq"
        "   THEN 'record' WHEN x.ref = " + _REF + " THEN 'ref' ELSE 'nearest' END AS linked"
        "  FROM checks x WHERE x.card_id = r.card_id AND ("
        "   (x.pad_id = r.pad_id AND x.epoch = r.epoch AND x.seq = r.seq) OR x.ref = " + _REF +
        "   OR (x.seq IS NULL AND x.ref IS NULL AND x.window_id = r.window_id AND x.at <= r.at"
        "    AND (x.operation IS NULL OR lower(x.operation) ="
        "     CASE r.kind WHEN %(unlock)s THEN 'unlock' ELSE 'reset' END)))"
        "  ORDER BY (x.pad_id = r.pad_id AND x.epoch = r.epoch AND x.seq = r.seq) IS TRUE DESC,"
        "   (x.ref = " + _REF + ") IS TRUE DESC, x.at DESC LIMIT 1) c ON true"
        " WHERE r.card_id = %(card)s AND r.kind IN (%(unlock)s, %(reset)s)",
        {"card": card, "unlock": KIND_CODES["UNLOCK"], "reset": KIND_CODES["RESET"]}).fetchall()
    checks = {(r[0], r[1], r[2]): (dict(zip(CHECK_FIELDS, r[3:])) if r[4] is not None else None)
              for r in rows}
    locked, unlocked = [], []
    for e in history:
        if e["kind"] == "LOCK":
            locked.append({k: e[k] for k in ("window", "pad", "epoch", "seq", "at")})
        elif e["kind"] in ("UNLOCK", "RESET"):
            e["check"] = checks.get((e["pad"], e["epoch"], e["seq"]))
            u = {k: e[k] for k in ("window", "pad", "epoch", "seq", "at", "kind")}
            u["check"] = e["check"]
            unlocked.append(u)
    return {"card": card, "locked": locked, "unlocked": unlocked, "history": history}


def checks(conn, card=None, since=None):
    q, args = ["SELECT window_id, check_id, at, clerk, operation, card_id, pad_id, epoch, seq,"
               " holder_doc_type, holder_masked, agent_doc_type, agent_masked FROM checks"
               " WHERE true"], []
    for cond, value in (("card_id=%s", card and card.lower()), ("at>=%s", parse_when(since))):
        if value is not None:
            q.append(cond)
            args.append(value)
    rows = conn.execute(" AND ".join(q) + " ORDER BY at, window_id, check_id", args)
    return [dict(zip(("window", "check", "at", "clerk", "operation", "card", "pad", "epoch", "seq",
                      "holder_doc_type", "holder_masked", "agent_doc_type", "agent_masked"), r))
            for r in rows]


# --- the command line ---------------------------------------------------------------------

def add_arguments(sub):
    from .store import default_path
    p = sub.add_parser("forward", help="send this window's event store to the regional database",
                       description="Sends the window's verified records (raw bytes and MACs), "
                                   "chain heads, pads, alerts, quarantined records and ID checks "
                                   "(masked and hashed) to a regional PostgreSQL. Batched, "
                                   "idempotent and resumable: re-run after any cut, nothing is "
                                   "lost or doubled.")
    p.add_argument("--db", help="the window's event store (default %s)" % default_path())
    p.add_argument("--to", default=os.environ.get(ENV_URL),
                   help="regional database, postgresql://... (default $%s)" % ENV_URL)
    p.add_argument("--window", help="this window's name (set once per store; default: a "
                                    "random id kept in the store)")
    p.add_argument("--batch", type=int, default=BATCH, help="rows per transaction")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=do_forward)

    r = sub.add_parser("region", help="the regional database's views across windows",
                       description="The window's views (cards, events, pads, alerts) across "
                                   "every window that forwards to the regional database; "
                                   "read-only.")
    rs = r.add_subparsers(dest="region_command", metavar="VIEW")
    rs.required = True

    def view(name, help_, func):
        v = rs.add_parser(name, help=help_, description=help_)
        v.add_argument("--db", default=os.environ.get(ENV_URL),
                       help="regional database, postgresql://... (default $%s)" % ENV_URL)
        if name != "migrate":
            v.add_argument("--json", action="store_true", help="machine-readable output")
        v.set_defaults(func=func)
        return v
    v = view("cards", "each card's last known state, across windows", do_cards)
    v = view("events", "journal events across windows", do_events)
    v.add_argument("--window", help="forwarded by this window")
    v.add_argument("--pad", help="pad id (hex)")
    v.add_argument("--card", help="card id (32 hex digits)")
    v.add_argument("--kind", help="record kind (name or number), e.g. LOCK")
    v.add_argument("--since", help="from this time (seconds or YYYY-MM-DD[THH:MM])")
    v.add_argument("--until", help="before this time")
    v.add_argument("--limit", type=int, help="at most this many")
    v = view("pads", "the pads each window has synced", do_pads)
    v.add_argument("--stale-days", type=float, help="only pads not synced for this many days")
    v = view("alerts", "alerts of every window (tampering, re-anchor, ...) and the region's",
             do_alerts)
    v.add_argument("--window")
    v.add_argument("--pad", help="pad id (hex)")
    v.add_argument("--kind", help="tampering, re-anchor, rollback, re-provisioning, gap, conflict")
    v = view("card", "where a card was locked and who unlocked or reset it", do_card)
    v.add_argument("card", help="card id (32 hex digits)")
    v = view("checks", "the clerks' ID checks (numbers masked)", do_checks)
    v.add_argument("--card", help="card id (32 hex digits)")
    v.add_argument("--since", help="from this time")
    view("migrate", "create or update the regional schema", do_migrate)


def _fail(msg):
    print("padctl: %s" % msg, file=sys.stderr)
    return 1


def _when(t):
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def do_forward(args):
    from .sync import progress_bar
    if args.batch < 1:
        return _fail("--batch must be at least 1")
    try:
        res = forward(args.db or _default_store(), args.to, args.window,
                      batch=args.batch, progress=progress_bar())
    except (RegionError, ValueError) as e:
        return _fail(e)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print("window %s: %s; %d chain head(s), %d pad(s) (%.2f s)" % (
            res["window"], ", ".join("%s %d new of %d sent" % (s, res[s]["new"], res[s]["sent"])
                                     for s in SOURCES), res["chains"], res["pads"],
            res["seconds"]))
    return 0


def _default_store():
    from .store import default_path
    return default_path()


def _reading(args, query, line):
    try:
        conn = connect(args.db, read_only=True)
        try:
            check_schema(conn)
            rows = query(conn)
        finally:
            conn.close()
    except (RegionError, ValueError) as e:
        return _fail(e)
    except Exception as e:  # psycopg errors: one clear line
        if type(e).__module__.startswith("psycopg"):
            return _fail("regional database: %s" % str(e).strip().splitlines()[0])
        raise
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows if isinstance(rows, list) else [rows]:
            print(line(r))
    return 0


def do_cards(args):
    return _reading(args, cards, lambda c: "%s %-8s wrong=%d last=%s window %s pad %s #%d %s" % (
        c["card"], c["state"], c["wrong"], c["last"], c["window"], c["pad"], c["seq"],
        _when(c["at"])))


def do_events(args):
    return _reading(args, lambda c: events(c, args.pad, args.card, args.kind, args.since,
                                           args.until, args.window, args.limit),
                    lambda e: "%s window %s %s e%d #%-6d %-14s %s %s%s" % (
                        _when(e["at"]), e["window"], e["pad"], e["epoch"], e["seq"], e["kind"],
                        e["card"] or "-", e["data"] or "-",
                        " (%s)" % e["reason"] if e.get("reason") else ""))


def do_pads(args):
    stale = args.stale_days * 86400 if args.stale_days is not None else None
    return _reading(args, lambda c: pads(c, stale),
                    lambda p: "window %s pad %s firmware %s epoch %s head %s acked %s stored %s "
                              "free %s last seen %s" % (
                                  p["window"], p["pad"], p["version"], p["epoch"], p["head"],
                                  p["acked"], p["stored"], p["free"], _when(p["last_seen"])))


def do_alerts(args):
    return _reading(args, lambda c: alerts(c, args.pad, args.window, args.kind),
                    lambda a: "%s window %s pad %s epoch %s seq %s %s: %s" % (
                        _when(a["at"]), a["window"], a["pad"], a["epoch"], a["seq"], a["kind"],
                        a["reason"]))


def do_card(args):
    def line(s):
        out = ["card %s" % s["card"]]
        for lk in s["locked"]:
            out.append("  locked %s at window %s, pad %s #%d" % (_when(lk["at"]), lk["window"],
                                                                 lk["pad"], lk["seq"]))
        for u in s["unlocked"]:
            c = u["check"]
            who = ("clerk %s, ID check %s at window %s (%s %s%s; linked by %s)" % (
                c["clerk"], c["check_id"], c["check_window"], c["holder_doc_type"],
                c["holder_masked"], ", agent %s %s" % (c["agent_doc_type"], c["agent_masked"])
                if c["agent_masked"] else "", c["linked"]) if c else "no ID check found")
            out.append("  %s %s at window %s, pad %s #%d: %s" % (
                u["kind"].lower(), _when(u["at"]), u["window"], u["pad"], u["seq"], who))
        if not s["history"]:
            out.append("  no events")
        return "\n".join(out)
    return _reading(args, lambda c: card_story(c, args.card), line)


def do_checks(args):
    return _reading(args, lambda c: checks(c, args.card, args.since),
                    lambda k: "%s window %s check %s clerk %s %s card %s %s %s%s" % (
                        _when(k["at"]), k["window"], k["check"], k["clerk"], k["operation"],
                        k["card"], k["holder_doc_type"], k["holder_masked"],
                        " agent %s %s" % (k["agent_doc_type"], k["agent_masked"])
                        if k["agent_masked"] else ""))


def do_migrate(args):
    try:
        conn = connect(args.db)
        try:
            done = migrate(conn)
        finally:
            conn.close()
    except RegionError as e:
        return _fail(e)
    except Exception as e:
        if type(e).__module__.startswith("psycopg"):
            return _fail("regional database: %s" % str(e).strip().splitlines()[0])
        raise
    print("applied %s" % (", ".join(map(str, done)) if done else "nothing (schema up to date)"))
    return 0
