"""The console pointed at the regional database (issue 14), read-only.

``RegionReader`` has the methods the console's pages call on a window's event store
(pads, events, cards, alerts, quarantined), read from the region through padctl.region's
views, on a connection whose transactions are read-only (the server refuses any write).
``RegionAdapter`` stands where the window adapter stands: the unlock / reset form is off
(it is done at a window, with its pads and key service), and a card's checks come from
the region, across windows.
"""
from .. import region as R
from ..store import StoreError
from .winapi import ConsoleWindowError

READ_ONLY = "this console shows the regional database, read-only: unlock and reset are " \
            "done at a window's console"


def where(url):
    """The database a URL names, without its password (for the page's banner)."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    host = u.hostname or "localhost"
    return "%s%s%s" % (host, ":%d" % u.port if u.port else "", u.path or "")


class RegionReader:
    """One read-only connection to the region for one page (a context manager)."""

    def __init__(self, url):
        self.url, self.conn = url, None

    def __enter__(self):
        try:
            self.conn = R.connect(self.url, read_only=True)
        except R.RegionError as e:
            raise StoreError(str(e)) from None
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def _run(self, fn, *a, **kw):
        psycopg = R._psycopg()
        try:
            return fn(self.conn, *a, **kw)
        except psycopg.errors.UndefinedTable:
            raise StoreError("the regional database has no schema yet: run `padctl region "
                             "migrate` or forward a window to it") from None
        except psycopg.Error as e:
            raise StoreError("regional database: %s" % str(e).strip().splitlines()[0]) from None

    def pads(self):
        rows = self._run(R.pads)
        counts = dict(((w, p), n) for w, p, n in self._run(lambda c: c.execute(
            "SELECT window_id, pad_id, count(*) FROM alerts GROUP BY 1, 2").fetchall()))
        for p in rows:
            p["alerts"] = counts.get((p["window"], p["pad"]), 0)
        return sorted(rows, key=lambda p: (p["pad"], p["window"]))

    def alerts(self, pad=None):
        return self._run(R.alerts, pad)

    def quarantined(self):
        rows = self._run(lambda c: c.execute(
            "SELECT window_id, pad_id, epoch, seq, reason, at FROM quarantine"
            " ORDER BY at, window_id, pad_id, epoch, seq").fetchall())
        return [dict(zip(("window", "pad", "epoch", "seq", "reason", "at"), r)) for r in rows]

    def events(self, pad=None, card=None, kind=None, since=None, until=None):
        return self._run(R.events, pad, card, kind, since, until)

    def events_page(self, f, page, size):
        """(rows newest first, total, page) of one page (the last one if page is past
        it): the region may hold millions of records."""
        sql, args = R.events_sql(count=True, **f)
        total = self._run(lambda c: c.execute(sql, args).fetchone()[0])
        page = min(page, max(1, (total + size - 1) // size))
        sql, args = R.events_sql(newest=True, **f)
        rows = self._run(lambda c: [R._event(r) for r in c.execute(
            sql + " LIMIT %d OFFSET %d" % (size, (page - 1) * size), args)])
        return rows, total, page

    def cards(self, card=None):
        return self._run(R.cards, card)

    def story(self, card):
        return self._run(R.card_story, card)


class RegionAdapter:
    """The window adapter's place in a regional console: no form, the region's checks."""

    pads = ()
    region = None
    available = READ_ONLY

    def __init__(self, url):
        self.url = url

    def doc_types(self):
        return [], ()

    def check(self, holder, agent=None):
        raise ConsoleWindowError(READ_ONLY)

    def run(self, *a, **kw):
        raise ConsoleWindowError(READ_ONLY)

    def checks(self, card=None):
        """The ID checks of every window for this card, as the window's page shows them,
        each with the journal record (seq, kind) the region links it to."""
        try:
            with RegionReader(self.url) as r:
                rows = r._run(R.checks, card)
                story = r.story(card) if card else {"unlocked": []}
        except StoreError as e:
            raise ConsoleWindowError(str(e)) from None
        linked = {}
        for u in story["unlocked"]:
            if u["check"]:
                linked.setdefault((u["check"]["check_window"], u["check"]["check_id"]),
                                  []).append({"seq": u["seq"], "kind": u["kind"]})
        out = []
        for c in rows:
            recs = linked.get((c["window"], c["check"]), [])
            out.append({"window": c["window"], "ref": None, "at": c["at"], "clerk": c["clerk"],
                        "op": (c["operation"] or "").lower(), "card_id": c["card"],
                        "holder_type": c["holder_doc_type"], "holder_masked": c["holder_masked"],
                        "agent_type": c["agent_doc_type"], "agent_masked": c["agent_masked"],
                        "result": "done" if recs else "", "records": recs,
                        "journaled": "done" if recs else "not forwarded"})
        return out

    def check_ref(self, ref):
        return None
