"""padctl sync / events / cards: pull a pad's journal into the event store.

A sync is HELLO, then PULL in batches; each batch is verified and stored in one
transaction, and only then acknowledged (ACK of its last record). Re-run after a break
at any point, it first acknowledges what is stored but not yet acknowledged, then goes
on from the stored chain head: no record is lost or stored twice. A record that does
not verify stops the sync: the records before it are stored and acknowledged, nothing
after it is, and the error names the pad and the sequence number.
"""
import json
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass, field

from . import link as L
from .store import KIND_CODES, STATE_OF, Store, StoreError, TamperError, default_path


class SyncError(Exception):
    """A sync that could not complete; str() is the message for the user. tamper: it
    stopped on tampering (exit code 3, as a sync that passed tampering)."""
    tamper = False


@dataclass
class SyncResult:
    pad: str
    version: str
    epoch: int
    stored: int = 0  # records stored by this run
    head: int = 0  # the pad's head at the end
    acked: int = 0  # the pad's acknowledged mark at the end
    free: int = 0
    warnings: list = field(default_factory=list)
    alerts: list = field(default_factory=list)  # tampering found and passed (store alerts)


def _stream(stream_or_port):
    if isinstance(stream_or_port, (str, bytes)) or hasattr(stream_or_port, "__fspath__"):
        return L.open_port(str(stream_or_port)), True
    return stream_or_port, False


E_INTERNAL = 12  # the pad could not answer (its RAM is held by a card session): retry


def sync(stream_or_port, db_path=None, link_key=None, pad_id=None, progress=None,
         batch=L.MAX_BATCH, timeout=5.0, quiet=0.05, patience=60.0, busy=None, again=1.0):
    """Sync one pad. stream_or_port: a port path, or a stream whose read() returns b""
    after a short timeout (pyserial, link.FdStream). link_key: 16 bytes, or a callable
    pad id -> key (a keystore's pad_link_key for the pad's region).
    progress(done, total) after every batch. quiet: seconds of silence that end the
    draining of stale answers before HELLO. A pad that cannot answer now (error 12: on a
    64 KB pad, while a card session holds its RAM, or as it restarts into its link-first
    boot) is asked again every `again` seconds for up to `patience` seconds (a pad that
    is silent after such an answer is restarting: asked again too), busy(seconds waited)
    telling the caller; every re-run goes on from what is stored, so nothing is lost or
    stored twice. Raises SyncError."""
    try:
        stream, own = _stream(stream_or_port)
    except L.LinkError as e:
        raise SyncError(str(e)) from None
    try:
        with Store(db_path) as store:
            start, stored, refused = time.monotonic(), 0, False
            while True:
                link = L.PadLink(stream, link_key, pad_id, timeout=timeout)
                run = []  # the run's SyncResult, as soon as it exists
                try:
                    res = _sync(store, link, progress, batch, quiet, run)
                    res.stored += stored
                    if res.stored:  # the window's ID checks name their UNLOCK / RESET
                        from .window import link_synced
                        link_synced(store.db)
                    return res
                except L.PadRefused as e:
                    stored += run[0].stored if run else 0
                    waited = time.monotonic() - start
                    # busy, or the pad dropped the session's link for a card: re-run
                    if e.code not in (E_INTERNAL, L.E_REPLAY) or waited > patience:
                        raise
                    refused = True
                    if busy:
                        busy(waited)
                    time.sleep(again)
                except L.AuthError:
                    raise
                except L.LinkError:
                    stored += run[0].stored if run else 0
                    # silent right after a busy answer: restarting (its link-first boot)
                    if not refused or time.monotonic() - start > patience:
                        raise
                    refused = False
    except StoreError as e:
        raise SyncError(str(e)) from None
    except L.AuthError as e:
        raise SyncError("%s; nothing was acknowledged after it" % e) from None
    except L.PadRefused as e:
        again = e.code in (1, 2, L.E_REPLAY, 12)  # line noise, another session, a hiccup
        raise SyncError("%s%s" % (e, "; re-run the sync: nothing is lost" if again else "")) \
            from None
    except (L.LinkError, OSError) as e:
        raise SyncError("link: %s (re-run the sync: nothing is lost)" % e) from None
    except sqlite3.Error as e:
        raise SyncError("event store %s: %s (re-run the sync: nothing is lost)"
                        % (db_path or default_path(), e)) from None
    finally:
        if own:
            stream.close()


def _sync(store, link, progress, batch, quiet, run=None):
    link.drain(quiet)  # answers of a broken run may still be on the line
    try:
        h = link.hello()
    except L.AuthError:  # one more try: a late stale answer, not a forgery, is likelier
        link.drain(quiet)
        try:
            h = link.hello()
        except L.AuthError as e:  # not tampering: the key given is not this pad's
            raise SyncError("wrong link key, or not this pad (%s)" % e) from None
    pad = h.pad_id.hex()
    res = SyncResult(pad, h.version, h.epoch, head=h.head, acked=h.acked, free=h.free)
    if run is not None:
        run.append(res)
    store.note_pad(pad, h.version, h.epoch, h.head, h.acked, h.free)
    top = store.max_epoch(pad)
    if top is not None and h.epoch < top:
        _tamper(store, TamperError(pad, h.head, "epoch %d is older than epoch %d held here "
                                   "(journal rolled back)" % (h.epoch, top), h.epoch))
    chain = store.chain(pad, h.epoch)
    # a higher epoch is a re-provisioning only if its first record says so (PROVISION,
    # naming the epoch before): checked when record 1 is stored
    reprov = top if top is not None and h.epoch > top and chain is None else None
    anchor = False
    if chain is None:
        nxt = h.acked + 1
        if h.acked:
            anchor = True
            res.warnings.append("records 1..%d of epoch %d were acknowledged before this "
                                "store knew the pad: the chain is anchored at %d"
                                % (h.acked, h.epoch, nxt))
    else:
        if h.head < chain.head_seq:
            _tamper(store, TamperError(pad, h.head + 1, "the pad's head is %d but %d is stored "
                                       "(journal truncated or rolled back)"
                                       % (h.head, chain.head_seq), h.epoch))
        nxt = chain.head_seq + 1
        store.mark_acked(pad, h.epoch, min(h.acked, chain.head_seq))
        if h.acked < chain.head_seq:  # stored earlier, the ACK never landed
            res.acked = link.ack(chain.head_seq, chain.head_mac).acked
            store.mark_acked(pad, h.epoch, res.acked)
        elif h.acked > chain.head_seq:
            res.warnings.append("the pad acknowledged up to %d, this store holds up to %d"
                                % (h.acked, chain.head_seq))
    total = max(0, h.head - nxt + 1)
    seen_head = h.head
    mark = None  # the pad's acked mark from the last ACK answer, not yet stored: it goes
    # into the next batch's transaction (one transaction a batch), or at the end
    while True:
        try:
            b = link.pull(nxt, batch)
        except L.PadRefused as e:
            if e.code != L.E_GONE or nxt > h.acked + 1 or anchor:
                raise
            # records acknowledged elsewhere and reclaimed: go on after the pad's mark
            gap = ("records %d..%d were acknowledged elsewhere and are not in this store; "
                   "the chain is anchored at %d" % (nxt, h.acked, h.acked + 1))
            res.warnings.append(gap)
            store.alert(pad, h.epoch, nxt, gap, "gap")
            nxt, anchor, chain = h.acked + 1, True, None
            store.db.execute("DELETE FROM chains WHERE pad_id=? AND epoch=?", (pad, h.epoch))
            continue
        if b.head < seen_head:
            _tamper(store, TamperError(pad, b.head + 1, "the pad's head went back from %d to %d"
                                       % (seen_head, b.head), h.epoch))
        seen_head = b.head
        if not b.records:
            if b.head >= nxt:
                _tamper(store, TamperError(pad, nxt, "the pad reports head %d but sent no "
                                           "record from %d (truncated)" % (b.head, nxt), h.epoch))
            res.head = b.head
            break
        good, alerts, after = store.ingest(pad, h.epoch, b.records, link.keys.journal_mac,
                                           first=nxt, anchor=anchor, acked=mark)
        mark = None
        anchor = False
        if reprov is not None and good and good[0].seq == 1:
            r = good[0]
            if r.kind == KIND_CODES["PROVISION"] and r.data == reprov.to_bytes(4, "big"):
                store.alert(pad, h.epoch, 1, "pad %s re-provisioned: epoch %d after %d"
                            % (pad, h.epoch, reprov), "re-provisioning")
            else:
                e = TamperError(pad, 1, "epoch %d follows epoch %d held here without a "
                                "provisioning record naming it" % (h.epoch, reprov), h.epoch)
                store.alert(pad, h.epoch, 1, "TAMPERING: %s" % e)
                alerts.append(e)
            reprov = None
        res.alerts += [str(e) for e in alerts]  # reported, then passed (DESIGN 6)
        if good:
            res.stored += len(good)
            a = link.ack(good[-1].seq, good[-1].mac)
            mark = a.acked
            res.acked, res.free = a.acked, a.free
        if after <= nxt and not good:
            raise SyncError("pad %s: the pull from %d brought nothing usable; stopped" % (pad, nxt))
        nxt = after
        total = max(total, res.stored + b.head - nxt + 1)
        if progress:
            progress(res.stored, max(total, res.stored))
    if mark is not None:
        store.mark_acked(pad, h.epoch, mark)
    return res


def _tamper(store, err):
    store.alert(err.pad_id, err.epoch, err.seq, "TAMPERING: %s" % err)
    e = SyncError("TAMPERING: %s; nothing after it was acknowledged" % err)
    e.tamper = True
    raise e from None


# --- the command line -------------------------------------------------------------------

def add_arguments(subparsers):
    p = subparsers.add_parser("sync", help="pull a pad's journal into the event store",
                              description="Pulls the pad's journal, verifies every record and "
                              "the MAC chain, stores them, then acknowledges. Exit 3 when it "
                              "found tampering (see padctl alerts).")
    p.add_argument("--port", required=True, help="serial port of the pad (or a pty path)")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--pad", help="the pad id expected on the port (16 hex digits)")
    p.add_argument("--link-key", help="the pad's link key, 32 hex digits (test material)")
    p.add_argument("--keystore", help="keystore holding the city link root, or the window's "
                   "pad-links key file (passphrase in $PADCTL_PASSPHRASE)")
    p.add_argument("--region", help="the pad's region code PPCCDD (with --keystore)")
    p.add_argument("--batch", type=int, default=L.MAX_BATCH, help="records asked per PULL")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=do_sync)
    p = subparsers.add_parser("events", help="list stored journal events",
                              description="The synced events, oldest first, their data in "
                              "words. A table on a terminal; one tab-separated line each when "
                              "piped; --json for scripts.")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--pad", help="pad id (hex, any case)")
    p.add_argument("--card", help="card id (32 hex digits, any case)")
    p.add_argument("--kind", help="record kind (name or number), e.g. LOCK")
    p.add_argument("--since", help="from this time (seconds or YYYY-MM-DD[THH:MM])")
    p.add_argument("--until", help="before this time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_events)
    p = subparsers.add_parser("alerts", help="tampering and other alerts the syncs raised")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--pad", help="pad id (hex, any case)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_alerts)
    p = subparsers.add_parser("cards", help="each card's last known state",
                              description="Each card's last known state (ok, locked, unlocked, "
                              "reset) and tries left as last reported.")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--state", type=str.lower, choices=sorted(set(STATE_OF.values())),
                   help="only cards in this state, e.g. locked")
    p.add_argument("--card", help="one card id (32 hex digits, any case)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_cards)
    p = subparsers.add_parser("pads", help="the pads this store has synced",
                              description="Each pad as its last sync found it: firmware, epoch, "
                              "head, acknowledged mark, room left, records and alerts held here.")
    p.add_argument("--db", help="event store (default %s)" % default_path())
    p.add_argument("--pad", help="one pad id (hex, any case)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_pads)


def _fail(msg):
    print("padctl: %s" % msg, file=sys.stderr)
    return 1


def _link_key(args):
    if args.link_key:
        try:
            key = bytes.fromhex(args.link_key)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise SyncError("--link-key must be 32 hex digits")
        return key
    if args.keystore:
        from .keys import Keystore, KeystoreError
        try:
            ks = Keystore.load(args.keystore)
        except KeystoreError as e:
            raise SyncError("no keystore: %s" % e) from None
        # a window's pad-links file (padctl keys pad-links) names each pad's region itself
        if args.region and not hasattr(ks, "pads"):
            try:
                ks.pad_link_key(args.region, bytes(8))
            except (ValueError, KeyError) as e:
                raise SyncError("--region %s is not a region code of six digits (PPCCDD) "
                                "this keystore knows: %s" % (args.region, e)) from None
        if args.region or hasattr(ks, "pads"):
            return lambda pad_id: ks.pad_link_key(args.region, pad_id)
    raise SyncError("give --link-key, or --keystore and --region")


def progress_bar(stream=None):
    """A progress callable for a sync: records, rate and time left, on a terminal."""
    from .output import Progress
    return Progress("records", stream)


def do_sync(args):
    try:
        pad = bytes.fromhex(args.pad) if args.pad else None
        if pad is not None and len(pad) != 8:
            raise ValueError
    except ValueError:
        return _fail("--pad must be 16 hex digits")
    bar = progress_bar()
    try:
        res = sync(args.port, args.db, _link_key(args), pad, progress=bar,
                   batch=max(1, min(args.batch, L.MAX_BATCH)),
                   busy=lambda t: print("padctl: the pad is busy (serving a card, or "
                                        "restarting for the sync); asking again (%.0f s)"
                                        % t, file=sys.stderr))
    except (SyncError, ValueError, OSError) as e:
        _fail(e)
        return EXIT_TAMPER if getattr(e, "tamper", False) else 1
    finally:
        bar.end()
    for w in res.warnings:
        print("padctl: warning: %s" % w, file=sys.stderr)
    for a in res.alerts:
        print("padctl: %s" % a, file=sys.stderr)
    if args.json:
        print(json.dumps(asdict(res), indent=1))
    else:
        print("pad %s (firmware %s, epoch %d): %d record(s) stored; acknowledged up to %d, "
              "head %d, room for %d more" % (res.pad, res.version, res.epoch, res.stored,
                                             res.acked, res.head, res.free))
    return EXIT_TAMPER if res.alerts else 0


EXIT_TAMPER = 3  # a sync that completed but found tampering (see `padctl alerts`)


def _listing(args, query, columns, title, empty):
    """A read command: query(store) -> rows, printed as JSON, a table on a terminal, or
    one tab-separated line per row. A store that does not exist is said so, not made."""
    try:
        with Store(args.db, create=False) as store:
            rows = query(store)
    except (StoreError, ValueError) as e:
        return _fail(e)
    except sqlite3.Error as e:
        return _fail("event store %s: %s" % (args.db or default_path(), e))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        from .output import listing
        listing([dict(r, when=_when(r.get("at") or r.get("last_seen"))) for r in rows],
                columns, title=title, empty=empty)
    return 0


def do_alerts(args):
    return _listing(args, lambda s: s.alerts(args.pad),
                    [("when", "when"), ("pad", "pad"), ("epoch", "epoch"), ("seq", "seq"),
                     ("kind", "kind"), ("reason", "what was found")],
                    "alerts", "no alerts")


def do_events(args):
    return _listing(args, lambda s: s.events(args.pad, args.card, args.kind, args.since,
                                             args.until),
                    [("when", "when"), ("pad", "pad"), ("epoch", "epoch"), ("seq", "seq"),
                     ("kind", "event"), ("card", "card"), ("what", "details")],
                    "events", "no events")


def do_cards(args):
    return _listing(args, lambda s: s.cards(args.state, args.card),
                    [("card", "card"), ("state", "state"), ("tries", "tries left"),
                     ("wrong", "wrong in a row"), ("last", "last event"), ("pad", "pad"),
                     ("when", "when")],
                    "cards", "no cards" + (" %s" % args.state if args.state else ""))


def do_pads(args):
    return _listing(args, lambda s: s.pads(args.pad),
                    [("pad", "pad"), ("version", "firmware"), ("epoch", "epoch"),
                     ("head", "head"), ("acked", "acknowledged"), ("free", "room"),
                     ("records", "records here"), ("alerts", "alerts"),
                     ("when", "last sync")],
                    "pads", "no pads synced yet")


def _when(t):
    if t is None:
        return None
    import time
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
