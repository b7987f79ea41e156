"""The window: a clerk's ID check, then an unlock or a PIN reset at the pad (issue 9).

One library for the CLI (``padctl window ...``) and the clerk's console
(console/winapi.py):

- ``check_documents(holder, agent)``: the documents a window accepts (DOC_TYPES), each
  ``TYPE:NUMBER``; an 18-character number is checked as GB 11643 (check digit, a real
  birth date, for the resident identity card a GB/T 2260 region that exists), the others
  by their format. WindowError says what is wrong, in one line.
- ``KeyService(keystore, region)``: what the window's driver (padctl.winlink) asks of
  the department's keys: the card's region checked (``check_card``), the unblock or
  reload command MAC (``command_mac``), the pad's link key, and the key the ID numbers
  are hashed under (``hash_key``).
- ``Checks(db)``: the table ``window_checks`` in the event store (store.py's SQLite): each
  check written before the pad is asked, its result after, numbers only masked and
  keyed-hashed (HMAC-SHA256); linked after a sync to the UNLOCK / RESET record that
  carries its reference.
- ``window(...)``: all of it for one operation; returns the driver's Outcome.

docs/protocol.md section 13 has the documents, the table and the hash key.
"""
import hashlib
import hmac
import os
import re
import sqlite3
import time
from dataclasses import dataclass

from .idnumber import birth_date, gb11643_check_digit, region_exists


class WindowError(Exception):
    """A refusal at the window (documents, card, key, store): str() is one line."""


# --- documents -----------------------------------------------------------------------

DOC_TYPES = {
    "ID": "resident identity card",
    "RP": "residence permit for Hong Kong, Macao or Taiwan residents",
    "FPR": "foreigner's permanent residence ID card",
    "PASSPORT": "passport",
    "HKMO": "mainland travel permit for Hong Kong and Macao residents",
    "TW": "mainland travel permit for Taiwan residents",
}
DOC_TYPES_ZH = {
    "ID": "居民身份证", "RP": "港澳台居民居住证", "FPR": "外国人永久居留身份证",
    "PASSPORT": "护照", "HKMO": "港澳居民来往内地通行证", "TW": "台湾居民来往大陆通行证",
}
NUMBERED = ("ID", "RP", "FPR")  # 18 characters with a GB 11643 check digit
RP_PREFIXES = {"810000": "Hong Kong", "820000": "Macao", "830000": "Taiwan"}
FORMATS = {  # the other documents: their number's format, and it in words
    "PASSPORT": (re.compile(r"(?=[A-Z]*\d)[A-Z0-9]{6,9}"),
                 "6 to 9 letters and digits (ICAO 9303 document number), at least one digit"),
    "HKMO": (re.compile(r"[HM](\d{8}|\d{10})"), "H or M, then 8 or 10 digits"),
    "TW": (re.compile(r"\d{8}"), "8 digits"),
}


@dataclass(frozen=True)
class Document:
    """A checked document. ``number`` is the clear number: it lives in memory for the
    operation only and is never stored (``masked`` and ``keyed_hash`` are)."""
    role: str     # "holder" or "agent"
    type: str     # a DOC_TYPES code
    number: str   # normalised: upper case, no spaces
    masked: str

    def keyed_hash(self, key):
        """HMAC-SHA256 under the department's hash key of ``TYPE:NUMBER`` (hex)."""
        return hmac.new(key, ("%s:%s" % (self.type, self.number)).encode("ascii"),
                        hashlib.sha256).hexdigest()

    def __repr__(self):  # a traceback or a log never shows the clear number
        return "Document(%s, %s, %s)" % (self.role, self.type, self.masked)


def mask(number):
    """For display: an 18-character number keeps its first 6 and last 4 characters
    (``110105********1232``), a shorter one its first 2 and last 2."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[-4:]
    if len(number) <= 4:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


def _birth_date(role, masked, number, today=None):
    try:
        return birth_date(number, today)
    except ValueError as e:
        raise WindowError("%s's document %s: %s" % (role, masked, e)) from None


def _region(role, masked, code):
    if not region_exists(code):
        raise WindowError("%s's document %s: region %s does not exist (GB/T 2260)"
                          % (role, masked, code))


def parse_document(spec, role="holder", today=None):
    """``TYPE:NUMBER`` -> Document, checked; WindowError naming the role otherwise."""
    if not isinstance(spec, str) or ":" not in spec:
        raise WindowError("%s's document: TYPE:NUMBER expected, TYPE one of %s"
                          % (role, ", ".join(DOC_TYPES)))
    t, _, n = spec.partition(":")
    t, n = t.strip().upper(), re.sub(r"\s+", "", n).upper()
    if t not in DOC_TYPES:
        raise WindowError("%s's document: unknown type %r (one of %s)"
                          % (role, t, ", ".join(DOC_TYPES)))
    if not n:
        raise WindowError("%s's document: no number" % role)
    if not n.isascii():
        raise WindowError("%s's document: the number has characters other than letters "
                          "and digits" % role)
    m = mask(n)
    if t in NUMBERED:
        if len(n) != 18 or not n[:17].isdigit() or not (n[17].isdigit() or n[17] == "X"):
            raise WindowError("%s's document: 18 characters expected (17 digits and a check "
                              "digit 0-9 or X)" % role)
        want = gb11643_check_digit(n[:17])
        if n[17] != want:
            raise WindowError("%s's document %s: wrong check digit (GB 11643: %s expected)"
                              % (role, m, want))
        if t == "ID":
            if n[:2] in ("81", "82", "83"):
                raise WindowError("%s's document %s: a number starting %s is a residence "
                                  "permit's (type RP)" % (role, m, n[:2]))
            if n[0] == "9":
                raise WindowError("%s's document %s: region %s does not exist (GB/T 2260); "
                                  "a number starting 9 is a foreigner's permanent residence ID "
                                  "card's (type FPR)" % (role, m, n[:6]))
            _region(role, m, n[:6])
        elif t == "RP" and n[:6] not in RP_PREFIXES:
            raise WindowError("%s's document %s: a residence permit's number starts 810000 "
                              "(Hong Kong), 820000 (Macao) or 830000 (Taiwan)" % (role, m))
        elif t == "FPR" and n[0] != "9":
            raise WindowError("%s's document %s: a foreigner's permanent residence ID card's "
                              "number starts with 9" % (role, m))
        _birth_date(role, m, n, today)
    else:
        rx, words = FORMATS[t]
        if not rx.fullmatch(n):
            raise WindowError("%s's document %s: the number of a %s is %s"
                              % (role, m, DOC_TYPES[t], words))
    return Document(role, t, n, m)


def check_documents(holder, agent=None, today=None):
    """(holder's Document, agent's Document or None). An agent case needs both
    documents; the agent's must not be the holder's own."""
    if holder is None or (isinstance(holder, str) and not holder.partition(":")[2].strip()):
        raise WindowError("the holder's document is required%s"
                          % (" (an agent brings the holder's document and their own)"
                             if agent else ""))
    h = parse_document(holder, "holder", today)
    if agent is None or (isinstance(agent, str) and not agent.strip()):
        return h, None
    a = parse_document(agent, "agent", today)
    if a.number == h.number:
        raise WindowError("agent's document %s is the holder's own: an agent brings their "
                          "own document" % a.masked)
    return h, a


# --- the department's keys ------------------------------------------------------------

# The ID numbers' hash key: the department's link level key (type 07) dispersed by this
# reserved factor, as a pad's link key is by its pad id (protocol.md 13). It is the same
# on a Keystore, the key service (ServiceKeystore) and a pad-links file that holds it.
HASH_FACTOR = b"IDHASH01"
MAC_TYPES = {5: "PIN unblock", 6: "PIN reload"}


class KeyService:
    """The department's keys for the window (the driver's ``keys``). keystore: a
    padctl.keys.Keystore (the simulator's), a keysvc ServiceKeystore (a key service
    folder) or anything with their methods; region: the department's GB/T 2260 code."""

    def __init__(self, keystore, region):
        from .keysvc.errors import RegionError
        from .keysvc.regions import check
        if keystore is None:
            raise WindowError("no keystore")
        if isinstance(keystore, (str, os.PathLike)):
            from .keys import Keystore, KeystoreError
            try:
                keystore = Keystore.load(keystore)
            except KeystoreError as e:
                raise WindowError("keystore: %s" % e) from None
        try:
            self.region = check(region)[0]
        except RegionError as e:
            raise WindowError(str(e)) from None
        self.ks = keystore
        self._hash = None

    def _ident(self, ef05):
        from .cardspec import Identity
        try:
            return Identity.from_ef05(ef05)
        except (ValueError, TypeError) as e:
            raise WindowError("the card's identification (EF05) is malformed: %s" % e) from None

    def _own(self, ident):
        from .keysvc.regions import covers
        if not covers(self.region, ident.region):
            raise WindowError("card %s is of region %s, not this department's (%s): only "
                              "the window of region %s serves it"
                              % (ident.card_id.hex().upper(), ident.region, self.region,
                                 ident.region))

    def check_card(self, card_id, ef05):
        """None if the card is the department's; WindowError naming the card's region
        otherwise (or when its id and EF05 disagree)."""
        ident = self._ident(ef05)
        if bytes(card_id) != ident.card_id:
            raise WindowError("card id %s does not match its EF05 (%s)"
                              % (bytes(card_id).hex().upper(), ident.card_id.hex().upper()))
        self._own(ident)

    def command_mac(self, ef05, mac_type, challenge, data):
        """The 4-byte MAC of protocol.md section 4 under the card's session key of
        mac_type (5 unblock, 6 reload) for challenge R, over data; the department's
        cards only."""
        from .crypto import CryptoError, iv_from_challenge, mac
        from .keys import KeystoreError, session_mac
        if mac_type not in MAC_TYPES:
            raise WindowError("the window MACs only PIN unblock (5) and reload (6), not "
                              "key type %r" % (mac_type,))
        ident = self._ident(ef05)
        self._own(ident)
        try:
            iv = iv_from_challenge(ident.suite, bytes(challenge))
            sk = session_mac(self.ks, ident, mac_type, bytes(challenge))
            return bytes(sk(iv, bytes(data)) if callable(sk) else mac(ident.suite, sk, iv,
                                                                        bytes(data)))
        except (KeystoreError, CryptoError, ValueError) as e:
            raise WindowError("key service: %s" % e) from None

    def link_key(self, pad_id):
        """The pad's link key (16 bytes) for pad_id (8 bytes or 16 hex)."""
        pad = bytes.fromhex(pad_id) if isinstance(pad_id, str) else bytes(pad_id)
        try:
            return self.ks.pad_link_key(self.region, pad)
        except ValueError as e:  # KeystoreError, KeyServiceError
            raise WindowError("pad %s: no link key: %s" % (pad.hex().upper(), e)) from None

    pad_link_key = link_key

    def hash_key(self):
        """The department's key for the ID numbers' HMAC (16 bytes, kept for the run)."""
        if self._hash is None:
            try:
                self._hash = self.ks.pad_link_key(self.region, HASH_FACTOR)
            except ValueError as e:
                raise WindowError("no ID hash key for region %s in this key source: %s"
                                  % (self.region, e)) from None
        return self._hash


# --- the checks store -------------------------------------------------------------------

TABLE = "window_checks"
# region.py's CHECK_MAP reads: ref, at, clerk, op, holder_type, holder_masked, holder_hash,
# agent_type, agent_masked, agent_hash, pad_id, card_id, epoch, seq (the UNLOCK / RESET
# record linked, once synced). Never a column named *number*: no clear number is stored.
CHECKS_DDL = (
    "CREATE TABLE IF NOT EXISTS window_checks (ref TEXT PRIMARY KEY, at REAL NOT NULL,"
    " clerk TEXT NOT NULL, op TEXT NOT NULL, region TEXT NOT NULL,"
    " holder_type TEXT NOT NULL, holder_masked TEXT NOT NULL, holder_hash TEXT NOT NULL,"
    " agent_type TEXT, agent_masked TEXT, agent_hash TEXT, pad_id TEXT, card_id TEXT,"
    " result TEXT NOT NULL DEFAULT 'checked', done INTEGER, sw TEXT, ended REAL,"
    " epoch INTEGER, seq INTEGER)")
COLS = ("ref", "at", "clerk", "op", "region", "holder_type", "holder_masked", "holder_hash",
        "agent_type", "agent_masked", "agent_hash", "pad_id", "card_id", "result", "done",
        "sw", "ended", "epoch", "seq")
SHOWN = ("ref", "at", "clerk", "op", "region", "holder_type", "holder_masked", "agent_type",
         "agent_masked", "pad_id", "card_id", "result")
LINKED_KINDS = (12, 13)      # UNLOCK, RESET: the check's record
NAMED_KINDS = (12, 13, 15, 22)  # + AUTH_REFUSED, WINDOW (intent): records naming the ref
WINDOW_KIND, RECOVERY_KIND = 22, 4  # WINDOW (the intent), POWER_RECOVERY (its settling)
# A window operation cut after its intent (protocol.md 9.7): WINDOW (ref) then, at the
# card's next insertion, POWER_RECOVERY settles it: data byte 0 is 3 when the card did it
# (its tries back at the maximum), else it was not done.
_SETTLED = (
    "SELECT r.data, r.epoch, r.seq, r.kind, r.at FROM records r WHERE r.pad_id = ?"
    " AND r.card_id = ? AND r.kind = %d AND (r.epoch > ? OR r.epoch = ? AND r.seq > ?)"
    " ORDER BY r.epoch, r.seq LIMIT 1" % RECOVERY_KIND)


class Checks:
    """The clerks' ID checks in the event store's database (path; None: the default)."""

    def __init__(self, db=None, clock=time.time):
        from .store import Store, StoreError
        try:
            self.store = Store(db, clock=clock)
            self.store.db.execute(CHECKS_DDL)
        except (StoreError, sqlite3.Error) as e:
            raise WindowError(str(e)) from None
        self.db, self.clock = self.store.db, clock

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def begin(self, ref, clerk, op, region, holder, agent, key, pad_id=None):
        """Write the check (result 'checked') before the pad is asked."""
        self.db.execute(
            "INSERT INTO window_checks (ref, at, clerk, op, region, holder_type, holder_masked,"
            " holder_hash, agent_type, agent_masked, agent_hash, pad_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (ref, self.clock(), clerk, op, region, holder.type, holder.masked,
             holder.keyed_hash(key), agent and agent.type, agent and agent.masked,
             agent and agent.keyed_hash(key), pad_id))

    def _rewrite(self, ref, **changes):
        """Change a check: the row is written again at the table's end (a new rowid), so a
        forward to the region (rowid marks, region.py) sends it again, never misses it."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT %s FROM window_checks WHERE ref=?" % ", ".join(COLS),
                             (ref,)).fetchone()
            if row is None:
                raise WindowError("no check %s" % ref)
            rec = dict(zip(COLS, row), **changes)
            top = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM window_checks").fetchone()[0]
            db.execute("DELETE FROM window_checks WHERE ref=?", (ref,))
            db.execute("INSERT INTO window_checks (rowid, %s) VALUES (?%s)"
                       % (", ".join(COLS), ",?" * len(COLS)),
                       (top + 1,) + tuple(rec[c] for c in COLS))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def end(self, ref, result, done=False, pad_id=None, card_id=None, sw=""):
        """Store the outcome of the check's operation."""
        ch = {"result": result, "done": int(bool(done)), "sw": sw or "", "ended": self.clock()}
        if pad_id:
            ch["pad_id"] = pad_id.lower()
        if card_id:
            ch["card_id"] = card_id.lower()
        self._rewrite(ref, **ch)

    def link(self):
        """Name in each check the UNLOCK / RESET record that carries its ref (data bytes
        0-5), once synced; returns how many checks were linked now."""
        rows = self.db.execute(
            "SELECT c.ref, r.epoch, r.seq, r.pad_id, r.card_id FROM window_checks c"
            " JOIN records r ON substr(r.data, 1, 6) = unhex_ref(c.ref)"
            " AND (c.pad_id IS NULL OR c.pad_id = r.pad_id)"
            " AND (c.card_id IS NULL OR c.card_id = r.card_id)"
            " WHERE c.seq IS NULL AND r.kind IN (%s)" % ",".join(map(str, LINKED_KINDS))
        ).fetchall() if self._unhex() else []
        rows += self._settled_after_cuts()
        for ref, epoch, seq, pad, card in rows:
            ch = {"epoch": epoch, "seq": seq, "pad_id": pad}
            if card:
                ch["card_id"] = card
            self._rewrite(ref, **ch)
        return len(rows)

    def _settled(self, pad, card, epoch, seq):
        """The POWER_RECOVERY that settled a WINDOW intent (pad, card, its epoch and seq):
        the first after it for that card (a pad settles an open attempt before any other
        starts), or None while it is not synced."""
        return self.db.execute(_SETTLED, (pad, card, epoch, epoch, seq)).fetchone()

    def _card_of(self, pad, epoch, seq):
        row = self.db.execute("SELECT card_id FROM records WHERE pad_id=? AND epoch=? AND"
                              " seq=?", (pad, epoch, seq)).fetchone()
        return row and row[0]

    def _settled_after_cuts(self):
        """Unlinked checks whose operation was cut after the pad's WINDOW intent and which
        the card's next insertion settled as done (POWER_RECOVERY 03): (ref, epoch, seq,
        pad, card) of that POWER_RECOVERY, the check's record."""
        if not self._unhex():
            return []
        out = []
        for ref, pad, card, epoch, seq in self.db.execute(
                "SELECT c.ref, r.pad_id, r.card_id, r.epoch, r.seq FROM window_checks c"
                " JOIN records r ON substr(r.data, 1, 6) = unhex_ref(c.ref)"
                " AND (c.pad_id IS NULL OR c.pad_id = r.pad_id)"
                " AND (c.card_id IS NULL OR c.card_id = r.card_id)"
                " WHERE c.seq IS NULL AND r.kind = %d" % WINDOW_KIND).fetchall():
            got = self._settled(pad, card, epoch, seq)
            if got and got[0][:1] == b"\x03":
                out.append((ref, got[1], got[2], pad, card))
        return out

    def _unhex(self):
        self.db.create_function("unhex_ref", 1, _unhex_ref, deterministic=True)
        return True

    def list(self, card=None, since=None, ref=None):
        """The checks, oldest first, as dicts: SHOWN, ``records`` (the synced records that
        carry the check's ref: pad, epoch, seq, kind, at) and ``journaled`` ('done' when
        an UNLOCK / RESET record is synced, 'refused' when only the pad's AUTH_REFUSED;
        after a power cut, the pad's WINDOW intent and the POWER_RECOVERY that settled it:
        'done after a power cut' when the card did it, 'not done (power cut)' when not;
        else 'not synced')."""
        from .store import KINDS, parse_when
        self.link()
        q, args = [], []
        for cond, value in (("card_id=?", card and card.lower()),
                            ("at>=?", parse_when(since)), ("ref=?", ref and ref.lower())):
            if value is not None:
                q.append(cond)
                args.append(value)
        rows = self.db.execute("SELECT %s FROM window_checks%s ORDER BY at, ref"
                               % (", ".join(SHOWN), " WHERE " + " AND ".join(q) if q else ""),
                               args).fetchall()
        out = []
        for row in rows:
            c = dict(zip(SHOWN, row))
            recs = self.db.execute(
                "SELECT pad_id, epoch, seq, kind, at FROM records WHERE substr(data, 1, 6) = ?"
                " AND kind IN (%s) AND (? IS NULL OR pad_id = ?) ORDER BY at, epoch, seq"
                % ",".join(map(str, NAMED_KINDS)),
                (_unhex_ref(c["ref"]), c["pad_id"], c["pad_id"])).fetchall()
            c["records"] = [{"pad": p, "epoch": e, "seq": s, "kind": KINDS.get(k, str(k)),
                             "at": a} for p, e, s, k, a in recs]
            kinds = {r["kind"] for r in c["records"]}
            c["journaled"] = ("done" if kinds & {"UNLOCK", "RESET"} else
                              "refused" if "AUTH_REFUSED" in kinds else "not synced")
            if c["journaled"] == "not synced":  # cut after the pad's intent?
                for p, e, s, k, a in recs:
                    got = k == WINDOW_KIND and self._settled(p, self._card_of(p, e, s), e, s)
                    if got:
                        c["records"].append({"pad": p, "epoch": got[1], "seq": got[2],
                                             "kind": "POWER_RECOVERY", "at": got[4]})
                        c["journaled"] = ("done after a power cut" if got[0][:1] == b"\x03"
                                          else "not done (power cut)")
            out.append(c)
        return out

    def get(self, ref):
        return next(iter(self.list(ref=ref)), None)


def _unhex_ref(ref):
    try:
        return bytes.fromhex(ref)
    except (TypeError, ValueError):
        return None


def link_synced(db):
    """After a sync: link the checks of an open store (store.py's sqlite connection) to
    the records just stored, if this store has checks. Never fails the sync."""
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name=?", (TABLE,)).fetchone():
            c = Checks.__new__(Checks)
            c.db, c.clock = db, time.time
            return c.link()
    except (sqlite3.Error, WindowError):
        pass
    return 0


# --- the operation ------------------------------------------------------------------------

OPS = {"unlock": "unlock", "reset": "reset"}


def _winlink():
    try:
        from . import winlink
    except ImportError as e:
        if (e.name or "").endswith("winlink"):
            raise WindowError("this padctl has no window driver (padctl.winlink)") from None
        raise
    return winlink


def window(port, keyservice, db, op, clerk, holder, agent=None, pad_id=None, wait=300.0,
           progress=None):
    """One unlock or PIN reset at the pad on port for clerk: the documents checked, the
    check written (ref: 6 random bytes), the pad driven (padctl.winlink.run), the outcome
    stored and returned (op, ref, pad, card, done, result, sw). pad_id: 8 bytes when the
    pad on the port is known (its link key is then taken before connecting), else None.
    WindowError (one line) when refused; the check keeps the refusal."""
    if op not in OPS.values():
        raise WindowError("operation: unlock or reset, not %r" % (op,))
    if not clerk or not str(clerk).strip():
        raise WindowError("the clerk's id is required")
    h, a = check_documents(holder, agent)
    if op == "unlock" and a is not None:
        raise WindowError("an agent may only reset a PIN; unlocking is done by the holder in "
                          "person")
    wl = _winlink()
    keys = keyservice
    if pad_id is not None:
        pad_id = bytes.fromhex(pad_id) if isinstance(pad_id, str) else bytes(pad_id)
        link_key = keys.link_key(pad_id)
    else:
        link_key = keys.link_key  # the driver's link takes the key of the pad that answers
    hkey = keys.hash_key()
    ref = os.urandom(6)
    checks = Checks(db)
    try:
        checks.begin(ref.hex(), str(clerk).strip(), op, keys.region, h, a, hkey,
                     pad_id.hex() if pad_id else None)
        try:
            out = wl.run(port, link_key, op, ref, h.number, keys, progress=progress,
                         wait=wait, pad_id=pad_id)
        except wl.WindowRefused as e:
            checks.end(ref.hex(), _short("refused: %s" % e), pad_id=_pad(e, pad_id),
                       card_id=_hex(getattr(e, "card", None)))
            raise WindowError(str(e) or "refused") from None
        except WindowError as e:  # the key service refused (other region...)
            checks.end(ref.hex(), _short("refused: %s" % e), pad_id=_pad(e, pad_id))
            raise
        except BaseException as e:  # link lost, interrupted: kept, then raised
            checks.end(ref.hex(), _short("failed: %s" % (str(e) or type(e).__name__)),
                       pad_id=_pad(e, pad_id))
            raise
        checks.end(ref.hex(), out.result, out.done, out.pad, out.card, out.sw)
        return out
    finally:
        checks.close()


def _hex(v):
    return v.hex() if isinstance(v, (bytes, bytearray)) else (v or None)


def _pad(e, pad_id):
    return _hex(getattr(e, "pad", None) or pad_id)


def _short(text, n=200):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


# --- the command line ---------------------------------------------------------------------

DOC_HELP = "TYPE:NUMBER, TYPE one of %s" % ", ".join(
    "%s (%s)" % (k, v) for k, v in DOC_TYPES.items())


def add_arguments(subparsers):
    from .store import default_path
    w = subparsers.add_parser(
        "window", help="unlock a card or reset its PIN at the window; the ID checks",
        description="At the window of the card's own department: the clerk checks the "
        "holder's ID document (and an agent's, for a reset), then the pad on --port does "
        "the operation with the holder (card, and for a reset the new PIN typed twice). "
        "Every check is kept in the event store, numbers masked and keyed-hashed only.")
    ws = w.add_subparsers(dest="window_command", metavar="SUBCOMMAND")
    ws.required = True
    for op, what in (("unlock", "unlock a locked card (PIN kept, tries restored); the holder "
                                "in person"),
                     ("reset", "reset a forgotten PIN: the holder types a new one at the pad; "
                               "the holder, or an agent with both documents")):
        p = ws.add_parser(op, help=what, description=what[0].upper() + what[1:] + ". "
                          "Progress lines go to stderr while the pad works; exit 0 when the "
                          "card did it, 1 when refused or not done.")
        p.add_argument("--port", required=True, help="serial port of the pad (or a pty path)")
        p.add_argument("--clerk", required=True, help="the clerk's id")
        p.add_argument("--holder-doc", required=True, metavar="TYPE:NUMBER",
                       help="the holder's document: " + DOC_HELP)
        if op == "reset":
            p.add_argument("--agent-doc", metavar="TYPE:NUMBER",
                           help="an agent's own document (with --holder-doc, the holder's)")
        p.add_argument("--keystore", required=True,
                       help="the department's key source: a key service folder (passphrase "
                       "in $PADCTL_PASSPHRASE) or a JSON test keystore")
        p.add_argument("--region", required=True, help="the department's region code PPCCDD")
        p.add_argument("--db", help="event store (default %s)" % default_path())
        p.add_argument("--pad", help="the pad id expected on the port (16 hex digits)")
        p.add_argument("--wait", type=float, default=300.0,
                       help="seconds to wait for the holder at the pad (default 300)")
        p.add_argument("--json", action="store_true", help="print the outcome as JSON")
        p.set_defaults(func=do_window, op=op)
    p = ws.add_parser("checks", help="the ID checks kept at this window",
                      description="The clerks' ID checks, oldest first: clerk, operation, "
                      "document types and masked numbers, result, and the pad's journal "
                      "record that carries the check's reference once synced.")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--card", help="one card id (32 hex digits, any case)")
    p.add_argument("--since", help="from this time (seconds or YYYY-MM-DD[THH:MM])")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_checks)


def do_window(args):
    import json
    import sys
    from .cli import CommandError
    from .link import LinkError
    pad = None
    if args.pad:
        try:
            pad = bytes.fromhex(args.pad)
        except ValueError:
            pad = b""
        if len(pad) != 8:
            raise CommandError("--pad must be 16 hex digits")

    def say(line):
        print("padctl: %s" % line, file=sys.stderr, flush=True)
    try:
        check_documents(args.holder_doc, getattr(args, "agent_doc", None))  # before any key
        keys = KeyService(args.keystore, args.region)
        out = window(args.port, keys, args.db, OPS[args.op], args.clerk, args.holder_doc,
                     getattr(args, "agent_doc", None), pad, args.wait, progress=say)
    except (WindowError, LinkError, ValueError) as e:
        raise CommandError(str(e) or type(e).__name__) from None
    res = {"op": out.op, "ref": out.ref, "pad": out.pad, "card": out.card, "done": out.done,
           "result": out.result, "sw": out.sw}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print("%s: %s (card %s at pad %s, check %s)" % (
            out.op, out.result, out.card, out.pad, out.ref))
    return 0 if out.done else 1


def do_checks(args):
    import json
    from .cli import CommandError
    from .output import listing
    from .store import default_path
    from pathlib import Path
    path = Path(args.db) if args.db else default_path()
    if not path.exists():
        raise CommandError("no event store at %s yet (--db names another)" % path)
    try:
        with Checks(path) as c:
            rows = c.list(args.card, args.since)
    except (WindowError, sqlite3.Error, ValueError) as e:
        raise CommandError(str(e)) from None
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        r["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
        r["holder"] = "%s %s" % (r["holder_type"], r["holder_masked"])
        r["agent"] = "%s %s" % (r["agent_type"], r["agent_masked"]) if r["agent_type"] else ""
        r["record"] = ", ".join("%s %s/%d" % (x["kind"], x["pad"], x["seq"])
                                for x in r["records"])
    listing(rows, [("when", "when"), ("ref", "ref"), ("clerk", "clerk"), ("op", "op"),
                   ("holder", "holder's document"), ("agent", "agent's document"),
                   ("card_id", "card"), ("result", "result"), ("journaled", "journal"),
                   ("record", "record")], title="ID checks", empty="no checks")
    return 0
