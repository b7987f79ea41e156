"""`make bench`, the regional figures: forwarding into PostgreSQL, and a card's history.

    python -m padsim.bench_region [--rows N] [--cards N] [--pads N] [--batch N] [--no-fsync] [--json]

On a throwaway cluster (padsim.pgtemp; fsync on, as a server would run):
1. a window store of N records (default 1,000,000) is generated directly (right CRCs and
   fields, MACs random: the forwarder checks CRCs and fields, not MACs, which need the
   pads' keys), then
   - plain COPY: the same rows, already in memory, COPY'd (binary) into the empty
     `records` table with its indexes, one transaction: rows/s;
   - forward: `padctl forward` of the store into the emptied table (reads SQLite,
     checks each record, COPYs batches, moves the mark with each batch): rows/s, and its
     ratio to the plain COPY (goal: at least 50%);
2. the card-history query (`padctl region card`'s) on the region of N records: median
   and 95th percentile over random cards (goal: under 10 ms), with EXPLAIN ANALYZE.
Figures are measured, never asserted. TEST MATERIAL: every record is generated.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import struct
import sys
import time
import zlib

from padctl import region as R
from padctl.store import KIND_CODES, Store

KINDS_MIX = ((KIND_CODES["PIN_OK"], 70), (KIND_CODES["PIN_WRONG"], 20),
             (KIND_CODES["LOCK"], 3), (KIND_CODES["UNLOCK"], 2), (KIND_CODES["CARD_REFUSED"], 3),
             (KIND_CODES["BOOT"], 2))


def raw_record(kind, epoch, seq, boot, t, card, data, prev_mac, journal_mac=None):
    """A 64-byte record slot (docs/protocol.md 8.1): RTC time t, card (16 bytes or None),
    data (<= 8 bytes); MAC journal_mac(prev_mac, body) (a pad's genuine chain, e.g.
    link.Keys(key, pad).journal_mac) or, without one, random bytes (bench rows)."""
    body = struct.pack(">BBBBIIHHI", 0x4A, kind, 1, len(data), epoch, seq, boot, 0, t) + \
        (card or bytes(16)) + bytes(data).ljust(8, b"\0")
    mac = journal_mac(prev_mac, body) if journal_mac else os.urandom(16)
    head = body + mac
    return head + struct.pack(">I", zlib.crc32(head))


def fill_window(path, n, pads=50, cards=100_000, seed=1, t0=1_700_000_000):
    """A window store of n records written directly (not through ingest: bench rows),
    spread over pads, each with its chain head and pad row. Returns the rows as the
    region's COPY takes them (for the plain-COPY baseline)."""
    rnd = random.Random(seed)
    kinds = [k for k, w in KINDS_MIX for _ in range(w)]
    pad_ids = ["%016x" % rnd.getrandbits(64) for _ in range(pads)]
    card_ids = [bytes.fromhex("110105d156%022x" % rnd.getrandbits(88)) for _ in range(cards)]
    seqs = {p: 0 for p in pad_ids}
    rows, out = [], []
    for i in range(n):
        pad = pad_ids[i % pads]
        seqs[pad] += 1
        kind = rnd.choice(kinds)
        card = card_ids[rnd.randrange(cards)] if kind != KIND_CODES["BOOT"] else None
        data = b"\x02" if kind == KIND_CODES["PIN_WRONG"] else b""
        t = t0 + i * 3
        raw = raw_record(kind, 1, seqs[pad], 1, t, card, data, None)
        row = (pad, 1, seqs[pad], kind, 1, 1, t, card.hex() if card else None, data,
               raw[44:60], raw, float(t), float(t))
        rows.append(row)
        out.append(row + ("bench",))
    Store(path).close()  # the schema
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    for pad in pad_ids:
        last = max((r for r in rows[-pads * 2:] if r[0] == pad), key=lambda r: r[2])
        db.execute("INSERT INTO chains VALUES (?,1,?,?,?,0)", (pad, last[2], last[9], last[2]))
        db.execute("INSERT INTO pads VALUES (?,?,?,?,?,?,?)",
                   (pad, "bench", 1, last[2], last[2], 1000, float(t0 + n * 3)))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('window', 'bench')")
    db.execute("COMMIT")
    db.close()
    return out, [c.hex() for c in card_ids]


def plain_copy(conn, rows):
    """The baseline: rows already in memory, one binary COPY into records, committed."""
    t = time.perf_counter()
    with conn.transaction():
        with conn.cursor().copy("COPY records (%s) FROM STDIN (FORMAT BINARY)"
                                % ", ".join(R.REC_COLS)) as cp:
            cp.set_types(R.REC_TYPES)
            for r in rows:
                cp.write_row(r)
    return time.perf_counter() - t


def card_history(conn, cards, n=200, seed=2):
    """Times (ms) of the card-history query for n random cards, and EXPLAIN ANALYZE."""
    rnd = random.Random(seed)
    times = []
    for _ in range(n):
        card = rnd.choice(cards)
        t = time.perf_counter()
        conn.execute(R.CARD_HISTORY, (card,)).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    plan = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + R.CARD_HISTORY,
                                       (rnd.choice(cards),))]
    story = []
    for _ in range(20):  # the whole answer of `padctl region card` (history, locks, checks)
        t = time.perf_counter()
        R.card_story(conn, rnd.choice(cards))
        story.append((time.perf_counter() - t) * 1000)
    without = []  # the same query without its index (dropped in a transaction rolled back)
    with conn.transaction(force_rollback=True):
        conn.execute("DROP INDEX records_card")
        for _ in range(5):
            t = time.perf_counter()
            conn.execute(R.CARD_HISTORY, (rnd.choice(cards),)).fetchall()
            without.append((time.perf_counter() - t) * 1000)
        plan_without = [r[0] for r in conn.execute("EXPLAIN " + R.CARD_HISTORY,
                                                   (rnd.choice(cards),))]
    times.sort()
    return {"without_index_median_ms": round(statistics.median(without), 3),
            "without_index_plan": plan_without[:3],
            "median_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(len(times) * 0.95)], 3),
            "card_story_median_ms": round(statistics.median(story), 3),
            "explain": plan}


def run(rows=1_000_000, cards=100_000, pads=50, batch=R.BATCH, fsync=True, workdir=None,
        out=sys.stderr):
    from .pgtemp import TempCluster
    import tempfile
    res = {"rows": rows, "cards": cards, "pads": pads, "batch": batch, "fsync": fsync}
    work = tempfile.mkdtemp(prefix="bench-region-", dir=workdir)
    try:
        store = os.path.join(work, "window.db")
        t = time.perf_counter()
        copy_rows, card_ids = fill_window(store, rows, pads, cards)
        print("generated %d records in %.1f s" % (rows, time.perf_counter() - t), file=out)
        settings = {} if fsync else {"fsync": "off", "synchronous_commit": "off"}
        settings.update({"shared_buffers": "256MB", "max_wal_size": "4GB"})
        with TempCluster(settings) as pg:
            conn = R.connect(pg.url())
            try:
                R.migrate(conn)
                secs = plain_copy(conn, copy_rows)
                res["plain_copy"] = {"seconds": round(secs, 3), "rows_per_s": round(rows / secs)}
                print("plain COPY: %d rows/s" % (rows / secs), file=out)
                del copy_rows
                conn.execute("TRUNCATE records")
                conn.execute("CHECKPOINT")
                t = time.perf_counter()
                f = R.forward(store, pg.url(), batch=batch)
                secs = time.perf_counter() - t
                if f["records"]["new"] != rows:  # the figure must be of a complete forward
                    raise RuntimeError("forward brought %s of %d rows" % (f["records"], rows))
                res["forward"] = {"seconds": round(secs, 3), "rows_per_s": round(rows / secs)}
                res["forward_vs_copy"] = round(res["forward"]["rows_per_s"]
                                               / res["plain_copy"]["rows_per_s"], 3)
                print("forward: %d rows/s (%.0f%% of plain COPY)"
                      % (rows / secs, 100 * res["forward_vs_copy"]), file=out)
                conn.execute("VACUUM ANALYZE records")
                res["card_history"] = card_history(conn, card_ids)
                res["region_records"] = conn.execute("SELECT count(*) FROM records").fetchone()[0]
            finally:
                conn.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def report(res):
    h = res["card_history"]
    lines = [
        "regional database (PostgreSQL, throwaway cluster, fsync %s)" % ("on" if res["fsync"]
                                                                          else "off"),
        "  %d records, %d pads, %d cards; forward batch %d" % (res["rows"], res["pads"],
                                                              res["cards"], res["batch"]),
        "  plain COPY of the rows into records: %8d rows/s (%.2f s)" % (
            res["plain_copy"]["rows_per_s"], res["plain_copy"]["seconds"]),
        "  padctl forward from the window store: %8d rows/s (%.2f s) = %.0f%% of plain COPY "
        "(goal >= 50%%)" % (res["forward"]["rows_per_s"], res["forward"]["seconds"],
                           100 * res["forward_vs_copy"]),
        "  card history with %d records in the region: median %.3f ms, p95 %.3f ms (goal "
        "< 10 ms); whole `region card` answer median %.3f ms" % (
            res["region_records"], h["median_ms"], h["p95_ms"], h["card_story_median_ms"]),
        "  EXPLAIN ANALYZE of the card-history query:"]
    lines += ["    " + p for p in h["explain"]]
    lines.append("  without the index records_card: median %.1f ms; plan:"
                 % h["without_index_median_ms"])
    lines += ["    " + p for p in h["without_index_plan"]]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m padsim.bench_region", description=__doc__.split(
        "\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cards", type=int, default=100_000)
    p.add_argument("--pads", type=int, default=50)
    p.add_argument("--batch", type=int, default=R.BATCH)
    p.add_argument("--no-fsync", action="store_true", help="run the server with fsync off")
    p.add_argument("--workdir")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        res = run(a.rows, a.cards, a.pads, a.batch, not a.no_fsync, a.workdir)
    except Exception as e:
        if type(e).__name__ in ("ClusterError", "RegionError"):
            print("bench_region: %s" % e, file=sys.stderr)
            return 1
        raise
    print(json.dumps(res, indent=1) if a.json else report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
