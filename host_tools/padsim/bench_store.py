"""The host's verify-and-store rate (padsim.bench, after the sync it replays; `make
bench`): Store.ingest as the sync calls it (one transaction per PULL answer, WAL synced at
every commit) against a plain SQLite insert of the same rows in the same number of
transactions, with the same durability (its ratio: the store's speed as a share of the
plain insert's); and both in one transaction.
"""
import sqlite3
import time
from pathlib import Path

from .bench_common import BenchError


def host_store_rates(raws, rows, pad, epoch, journal_mac, workdir, batch=12, sizes=None):
    """Records per second: Store.ingest as the sync calls it (verify the CRC, sequence
    and MAC chain, store with the chain head, one transaction per PULL answer: `sizes`,
    the records of each, else `batch` a transaction) against a plain executemany of the
    same stored rows in the same transactions, both in WAL mode synced at every commit
    (the store's durability before an ACK); and both in one transaction."""
    from padctl.store import SCHEMA, Store
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


def report(s, say=print):
    """The store's figures, in the sync's dict."""
    say("  host verify-and-store (Store.ingest as the sync: %d transactions of %.1f "
        "records, one a PULL answer, WAL synced at each commit): %.0f records/s"
        % (s["ingest_transactions"], s["ingest_batch"], s["ingest_batched_per_s"]))
    say("  plain SQLite insert of the same rows in the same transactions, same sync: "
        "%.0f records/s; the store's ratio to the plain insert: %.0f%% (goal 80%%)"
        % (s["plain_insert_per_s"], 100 * s["store_ratio"]))
    say("  in one transaction: verify-and-store %.0f records/s, plain insert %.0f "
        "records/s (%.1f x)" % (s["ingest_one_tx_per_s"], s["plain_one_tx_per_s"],
                                s["plain_to_ingest_one_tx"]))
