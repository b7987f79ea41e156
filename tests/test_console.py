"""The clerk's console without a browser: clerk accounts, sessions that expire, the
Host / Origin / CSRF guards, `padctl console` on loopback only, and the window adapter
(tests/test_console_browser.py has the pages in Chromium)."""
import json
import os
import re
import socket
import stat
import subprocess
import sys

import pytest

from consolekit import CLERK, HOLDER_ID, PASSWORD, World
from padctl.console.clerks import ClerkError, Clerks
from padctl.console.winapi import ConsoleWindowError, PadPort, WindowAdapter

BASE = "http://127.0.0.1:8765"
PADCTL = [sys.executable, "-m", "padctl.cli"]


def test_clerks_are_stored_under_scrypt_in_a_0600_file(tmp_path):
    c = Clerks(tmp_path / "clerks.json")
    c.add("zhang_3", "a long password", "Zhang San")
    assert stat.S_IMODE(os.stat(c.path).st_mode) == 0o600
    text = c.path.read_text()
    assert "a long password" not in text and '"kdf": "scrypt"' in text
    assert c.check("zhang_3", "a long password") == {"clerk": "zhang_3", "name": "Zhang San"}
    assert c.check("zhang_3", "a long passworD") is None
    assert c.check("nobody", "a long password") is None
    for clerk, pw, why in (("bad id!", "a long password", "clerk id"),
                           ("li", "short", "at least"), ("zhang_3", "another password",
                                                          "exists")):
        with pytest.raises(ClerkError, match=why):
            c.add(clerk, pw)
    c.remove("zhang_3")
    assert c.list() == []


def test_padctl_clerks_add_list_and_errors(tmp_path):
    db = str(tmp_path / "events.db")
    run = lambda *a, **kw: subprocess.run(PADCTL + list(a), capture_output=True, text=True,
                                          **kw)
    r = run("clerks", "add", "li.si", "--name", "Li Si", "--db", db, "--password-stdin",
            input="twelve chars!\n")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "clerks.json").st_mode) == 0o600
    r = run("clerks", "list", "--db", db, "--json")
    assert json.loads(r.stdout)[0]["clerk"] == "li.si"
    r = run("clerks", "add", "li.si", "--db", db, "--password-stdin", input="short\n")
    assert r.returncode == 1 and r.stderr.startswith("padctl: password: at least")
    assert "Traceback" not in r.stderr
    r = run("console", "--db", str(tmp_path / "none" / "events.db"), "--http-port", "0")
    assert r.returncode == 1 and "padctl clerks add" in r.stderr


def test_padctl_console_listens_on_loopback_only(tmp_path):
    db = str(tmp_path / "events.db")
    Clerks(tmp_path / "clerks.json").add(CLERK, PASSWORD)
    r = subprocess.run(PADCTL + ["console", "--db", db, "--host", "0.0.0.0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    p = subprocess.Popen(PADCTL + ["console", "--db", db, "--http-port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        port = int(m.group(1))
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /login HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        bound = [ln.split()[3] for ln in out.splitlines() if ln.split()[3].endswith(":%d" % port)]
        assert bound == ["127.0.0.1:%d" % port]
        assert "unlock / reset form is off" in p.stderr.readline()
    finally:
        p.terminate()
        p.wait(10)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    now = [1_800_000_000.0]
    w = World(tmp_path_factory.mktemp("console"), idle=600, max_age=3600,
              clock=lambda: now[0])
    w.now = now
    yield w
    w.close()


def _signed_in(world):
    c = world.app.test_client()
    tok = re.search(r'name="csrf" value="(\w+)"', c.get("/login", base_url=BASE).text).group(1)
    r = c.post("/login", base_url=BASE, headers={"Origin": BASE},
               data={"csrf": tok, "clerk": CLERK, "password": PASSWORD})
    assert r.status_code == 303
    tok = re.search(r'name="csrf" value="(\w+)"', c.get("/window", base_url=BASE).text).group(1)
    return c, tok  # the token of the signed-in session (sign-in makes a new one)


def test_sessions_expire_when_idle_and_in_all(world):
    c, _ = _signed_in(world)
    assert c.get("/", base_url=BASE).status_code == 200
    world.now[0] += 599
    assert c.get("/", base_url=BASE).status_code == 200  # activity keeps it
    world.now[0] += 601
    r = c.get("/events", base_url=BASE)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert "expired" in c.get("/login", base_url=BASE).text
    c, _ = _signed_in(world)
    for _ in range(8):  # active all along, but 8 x 500 s > max_age
        world.now[0] += 500
        c.get("/", base_url=BASE)
    assert c.get("/", base_url=BASE).status_code == 302


def test_host_origin_and_token_are_checked(world):
    c, tok = _signed_in(world)
    r = c.get("/", base_url="http://attacker.example:8765")  # DNS rebinding
    assert r.status_code == 403
    form = {"csrf": tok, "op": "unlock", "holder_type": "ID", "holder_number": HOLDER_ID,
            "pad": world.pads[0].key}
    before = len(world.window.runs())
    assert c.post("/window", base_url=BASE, data=form).status_code == 403  # no Origin
    assert c.post("/window", base_url=BASE, data=form,
                  headers={"Origin": "http://127.0.0.1:9999"}).status_code == 403
    assert c.post("/window", base_url=BASE, data=dict(form, csrf="x"),
                  headers={"Origin": BASE}).status_code == 403
    assert c.post("/window", base_url=BASE, data=dict(form, csrf=""),
                  headers={"Origin": BASE}).status_code == 403
    assert len(world.window.runs()) == before
    r = c.post("/window", base_url=BASE, data=form, headers={"Referer": BASE + "/window"})
    assert r.status_code == 303  # a browser without Origin but a same-origin Referer
    r = c.get("/", base_url=BASE)
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_bad_form_input_gets_one_line_and_runs_nothing(world):
    c, tok = _signed_in(world)
    before = len(world.window.runs())
    base = {"csrf": tok, "op": "unlock", "holder_type": "ID", "holder_number": HOLDER_ID,
            "pad": world.pads[0].key}
    for change, why in (({"op": "erase"}, "unlock or reset"), ({"pad": "nope"}, "no such pad"),
                        ({"holder_number": "11010519900101123"}, "18 characters"),
                        ({"holder_number": HOLDER_ID[:17] + "0"}, "wrong check digit")):
        r = c.post("/window", base_url=BASE, data=dict(base, **change), headers={"Origin": BASE})
        assert r.status_code == 400 and why in r.text, why
    assert len(world.window.runs()) == before
    assert c.get("/receipt/zzzz", base_url=BASE).status_code == 404
    assert c.get("/window/job/nope", base_url=BASE).status_code == 404


def test_the_adapter_says_why_the_window_is_off(tmp_path):
    a = WindowAdapter(str(tmp_path / "events.db"))
    assert a.available  # no library yet, or no keystore / region / pads
    with pytest.raises(ConsoleWindowError):
        a.run("unlock", PadPort("/dev/null"), CLERK, "ID:" + HOLDER_ID)
    with pytest.raises(ConsoleWindowError, match="PADID@PORT"):
        PadPort("12@/dev/ttyUSB0")


def test_the_adapter_checks_documents_with_padctl_window(tmp_path):
    window = pytest.importorskip("padctl.window")  # issue 9's library, once merged
    a = WindowAdapter(str(tmp_path / "events.db"))
    assert a.check("ID:" + HOLDER_ID) == ("110105********1232", None)
    with pytest.raises(ConsoleWindowError, match="check digit"):
        a.check("ID:" + HOLDER_ID[:17] + "0")
    types, numbered = a.doc_types()
    assert ("ID", window.DOC_TYPES["ID"]) in types and "ID" in numbered
    assert a.checks() == []
