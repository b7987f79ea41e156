"""The clerk's console pointed at the regional database (issue 14 item 2): the same
pages across every window, read-only, against a real PostgreSQL (test_region's cluster)."""
import re
import subprocess
import sys

import pytest

from test_region import CARD_A, CARD_B, ROOT, PadChain, add_check, busy_pad, ingest, region_rows

psycopg = pytest.importorskip("psycopg")
from padctl import region as R  # noqa: E402
from padctl.console.app import create_app  # noqa: E402
from padctl.console.clerks import Clerks  # noqa: E402
from padctl.console.regionsrc import RegionAdapter, RegionReader, where  # noqa: E402
from padctl.store import Store  # noqa: E402

BASE = "http://127.0.0.1:8765"
CLERK, PASSWORD = "audit.zhao", "regional auditor 7"


@pytest.fixture
def regional(region, tmp_path):
    """Two windows forwarded: window-1 (a busy pad, card A locked there, an alert),
    window-2 (card A unlocked there after the clerk's check, linked to the record)."""
    p1 = busy_pad(60, seed=1)
    p1.add("PIN_WRONG", CARD_A, b"\x02").add("PIN_WRONG", CARD_A, b"\x01")
    p1.add("PIN_WRONG", CARD_A, b"\x00").add("LOCK", CARD_A, b"\x00\x03")
    p2 = PadChain(t0=p1.t + 3600).add("BOOT").add("UNLOCK", CARD_A, b"\xa1" * 6)
    p2.add("PIN_OK", CARD_A).add("PIN_OK", CARD_B)
    w1, w2 = tmp_path / "w1.db", tmp_path / "w2.db"
    ingest(w1, p1)
    ingest(w2, p2)
    with Store(w1) as s:
        s.alert(p1.id, 1, 7, "test alert: record 7 altered")
    add_check(w2, "w2-1", "clerk-2001", "unlock", CARD_A, p2.t - 120, pad=p2.id, epoch=1,
              seq=2)
    for w, name in ((w1, "window-1"), (w2, "window-2")):
        R.forward(w, region, window=name)
    clerks = Clerks(tmp_path / "clerks.json")
    clerks.add(CLERK, PASSWORD, "Zhao", n=2 ** 10)  # (a low scrypt cost: a test)
    app = create_app(tmp_path / "unused.db", clerks, RegionAdapter(region), page_size=25,
                     source=lambda: RegionReader(region), regional=where(region))
    return {"app": app, "url": region, "p1": p1, "p2": p2, "store": tmp_path / "unused.db"}


def signed_in(app):
    c = app.test_client()
    tok = re.search(r'name="csrf" value="(\w+)"', c.get("/login", base_url=BASE).text).group(1)
    r = c.post("/login", base_url=BASE, headers={"Origin": BASE},
               data={"csrf": tok, "clerk": CLERK, "password": PASSWORD})
    assert r.status_code == 303
    tok = re.search(r'name="csrf" value="(\w+)"', c.get("/", base_url=BASE).text).group(1)
    return c, tok


def cells(html, table):
    body = re.search(r'<table id="%s">(.*?)</table>' % table, html, re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("</thead>")[-1], re.S)]


def text(cell):
    return re.sub(r"<[^>]+>", "", cell).strip()


def test_the_pages_show_every_window_read_only(regional):
    c, _ = signed_in(regional["app"])
    p1, p2 = regional["p1"], regional["p2"]
    home = c.get("/", base_url=BASE).text
    assert 'id="regional"' in home and "read-only" in home
    assert "Unlock / reset" not in home  # no form in the region's console
    rows = {(text(r[0]), text(r[1])): r for r in cells(home, "pads")}
    assert set(rows) == {("window-1", p1.id), ("window-2", p2.id)}
    assert text(rows[("window-1", p1.id)][-1]) == "1"  # its alert
    # events: a page of the newest, across windows, and the total
    ev = c.get("/events", base_url=BASE).text
    total = len(p1.raws) + len(p2.raws)
    assert re.search(r'id="count">%d ' % total, ev)
    first = cells(ev, "events")
    assert len(first) == 25 and text(first[0][0]) == "window-2" and text(first[0][4]) == "4"
    last = c.get("/events?page=999", base_url=BASE).text  # past the end: the last page
    assert len(cells(last, "events")) == (total % 25 or 25)
    assert text(cells(last, "events")[-1][4]) == "1"  # the oldest: a BOOT, seq 1
    locks = cells(c.get("/events?kind=LOCK", base_url=BASE).text, "events")
    assert [(text(r[0]), text(r[5])) for r in locks] == [("window-1", "LOCK")]
    bad = c.get("/events?card=xyz", base_url=BASE)
    assert bad.status_code == 200 and 'id="error"' in bad.text and "32 hex digits" in bad.text
    # the card: locked at window 1, unlocked at window 2 by the clerk whose check it was
    cards = {text(r[1]): r for r in cells(c.get("/cards", base_url=BASE).text, "cards")}
    assert text(cards[CARD_A][0]) == "window-2" and text(cards[CARD_A][2]) == "ok"
    page = c.get("/cards/%s" % CARD_A.upper(), base_url=BASE).text
    assert 'id="unlock-link"' not in page
    hist = [(text(r[0]), text(r[2]).split(" ")[0], text(r[5])) for r in cells(page, "history")]
    assert ("window-1", "LOCK", "") in hist
    assert ("window-2", "UNLOCK", "clerk-2001") in hist
    checks = cells(page, "checks")
    assert [(text(r[0]), text(r[3]), text(r[4])) for r in checks] == [
        ("window-2", "clerk-2001", "resident 110105********1232")]
    al = c.get("/alerts", base_url=BASE).text
    assert [(text(r[0]), text(r[2]), text(r[6])) for r in cells(al, "alerts")] == [
        ("window-1", p1.id, "test alert: record 7 altered")]
    zh = c.get("/?lang=zh", base_url=BASE).text
    assert "地区数据库（只读）" in zh


def test_the_form_is_refused_and_the_connection_cannot_write(regional):
    c, tok = signed_in(regional["app"])
    r = c.post("/window", base_url=BASE, headers={"Origin": BASE},
               data={"csrf": tok, "op": "unlock", "holder_type": "ID",
                     "holder_number": "110105199001011232", "pad": "x"})
    assert r.status_code == 503 and "read-only" in r.text
    before = region_rows(regional["url"], "SELECT count(*) FROM records")[0][0]
    with RegionReader(regional["url"]) as rd:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            rd.conn.execute("DELETE FROM records")
    assert region_rows(regional["url"], "SELECT count(*) FROM records")[0][0] == before
    assert not regional["store"].exists()  # the window's store is not read, nor made


def test_a_region_without_schema_is_a_clear_page(region, tmp_path):
    clerks = Clerks(tmp_path / "clerks.json")
    clerks.add(CLERK, PASSWORD, n=2 ** 10)
    app = create_app(tmp_path / "e.db", clerks, RegionAdapter(region),
                     source=lambda: RegionReader(region), regional=where(region))
    c, _ = signed_in(app)
    r = c.get("/events", base_url=BASE)
    assert r.status_code == 500 and "padctl region migrate" in r.text


def padctl(*args):
    return subprocess.run([sys.executable, "-m", "padctl.cli"] + [str(a) for a in args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_console_region_db_errors_are_sentences(region, tmp_path):
    clerks = tmp_path / "clerks.json"
    Clerks(clerks).add(CLERK, PASSWORD, n=2 ** 10)
    base = ("console", "--clerks", clerks, "--http-port", "0")
    r = padctl(*base, "--region-db", region, "--keystore", tmp_path / "k.json",
               "--region", "110105")
    assert r.returncode == 1 and "read-only" in r.stderr and "Traceback" not in r.stderr
    r = padctl(*base, "--region-db", region)  # no schema yet
    assert r.returncode == 1 and "padctl region migrate" in r.stderr
    r = padctl(*base, "--region-db", "mysql://x/y")
    assert r.returncode == 1 and "postgresql://" in r.stderr
    assert "password" not in where("postgresql://u:secret@db.example:5433/region")
    assert where("postgresql://u:secret@db.example:5433/region") == "db.example:5433/region"
