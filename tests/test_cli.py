"""padctl as a clerk meets it (issue 10 item 3): listings with headers on a terminal and
plain when piped, decoded kinds and reasons, tries left, cards by state, pads, ids in
any case, read commands that do not create a store, one guard for exit codes (usage 2,
failure 1, tampering 3, Ctrl-C 130, a closed pipe quiet), a wrong link key said as such,
a bad port listing the ports there are. TEST MATERIAL: keys are generated at run time."""
import io
import json
import os
import subprocess
import sys

import pytest

import test_link as tl
from test_store import CARD_A, CARD_B, SPEC, T0
from padctl import cli
from padctl import sync as S
from padctl.output import listing
from padctl.store import describe


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """An event store holding one pad's SPEC records (card A locked then unlocked...)."""
    tmp = tmp_path_factory.mktemp("cli")
    spec = tmp / "spec.txt"
    spec.write_text(SPEC + "7 %s 0201\n8 %s 0102\n" % (CARD_B, CARD_B))  # card B locked
    pad = tl.Pad(tmp, str(spec), env={"LINK_RTC": T0})
    try:
        S.sync(pad.stream, tmp / "ev.db", pad.key, pad.pad_id, quiet=0.01)
    finally:
        pad.stop()
    return str(tmp / "ev.db"), pad.pad_id.hex()


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cards_by_state_with_tries_left(db, capsys):
    path, pad = db
    rc, out, err = run(capsys, "cards", "--db", path, "--state", "LOCKED", "--json")
    assert rc == 0, err
    rows = json.loads(out)
    assert [(c["card"], c["state"], c["tries"]) for c in rows] == [(CARD_B, "locked", 0)]
    rc, out, err = run(capsys, "cards", "--db", path, "--card", CARD_A.upper(), "--json")
    assert [(c["card"], c["state"]) for c in json.loads(out)] == [(CARD_A, "unlocked")]


def test_plain_when_piped_decoded_and_ids_in_any_case(db, capsys):
    path, pad = db
    rc, out, err = run(capsys, "events", "--db", path, "--pad", pad.upper(), "--card",
                       CARD_B.upper())
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 5 and all(len(x.split("\t")) == 7 for x in lines)  # no header
    assert lines[-1].split("\t")[4:] == ["LOCK", CARD_B, "locked: the card's limit, "
                                                         "2 failure(s)"]
    assert "2 tries left, 1 failure(s) in a row" in lines[-2]  # PIN_WRONG decoded


def test_tables_with_headers_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    t = Tty()
    listing([{"card": CARD_A, "state": "locked", "tries": 0}],
            [("card", "card"), ("state", "state"), ("tries", "tries left")], stream=t)
    text = t.getvalue()
    assert "tries left" in text and CARD_A in text and "locked" in text
    t = Tty()
    listing([], [("card", "card")], stream=t, empty="no cards locked")
    assert "no cards locked" in t.getvalue()


def test_pads_listing(db, capsys):
    path, pad = db
    rc, out, err = run(capsys, "pads", "--db", path, "--json")
    assert rc == 0, err
    p = json.loads(out)
    assert [(x["pad"], x["records"], x["head"], x["alerts"]) for x in p] == [(pad, 12, 12, 0)]


def test_read_commands_on_a_missing_store_say_so_and_create_nothing(tmp_path, capsys):
    missing = tmp_path / "none" / "ev.db"
    for cmd in ("events", "cards", "alerts", "pads"):
        rc, out, err = run(capsys, cmd, "--db", str(missing))
        assert rc == 1 and err.startswith("padctl: no event store at ") and out == ""
        assert len(err.splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()


def test_exit_codes_usage_interrupt(db, capsys, monkeypatch):
    path, pad = db
    with pytest.raises(SystemExit) as e:
        cli.main(["cards", "--db", path, "--state", "bogus"])
    assert e.value.code == 2

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(S, "do_events", interrupted)
    rc, out, err = run(capsys, "events", "--db", path)
    assert rc == 130 and "Traceback" not in err


def test_a_closed_pipe_is_quiet(db):
    path, pad = db
    p = subprocess.run("%s -m padctl.cli events --db %s | head -1" % (sys.executable, path),
                       shell=True, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1 and p.stderr == ""


def test_wrong_link_key_and_bad_port_are_plain_sentences(tmp_path, capsys):
    pad = tl.Pad(tmp_path, 3, use_pty=True)
    try:
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", str(tmp_path / "e.db"),
                           "--link-key", os.urandom(16).hex())
    finally:
        pad.stop()
    assert rc == 1 and err.startswith("padctl: wrong link key, or not this pad")
    assert "TAMPERING" not in err and len(err.splitlines()) == 1
    rc, out, err = run(capsys, "sync", "--port", "/dev/nonexistent-tty", "--db",
                       str(tmp_path / "e.db"), "--link-key", "00" * 16)
    assert rc == 1 and "cannot open /dev/nonexistent-tty" in err
    assert "serial port" in err and len(err.splitlines()) == 1


def test_keystore_and_region_errors_are_sentences(tmp_path, capsys):
    rc, out, err = run(capsys, "sync", "--port", "/dev/null", "--db", str(tmp_path / "e.db"),
                       "--keystore", str(tmp_path / "none.json"), "--region", "110105")
    assert rc == 1 and "no keystore" in err and len(err.splitlines()) == 1
    from padctl.keys import Keystore
    Keystore.generate(tmp_path / "ks.json")
    rc, out, err = run(capsys, "sync", "--port", "/dev/null", "--db", str(tmp_path / "e.db"),
                       "--keystore", str(tmp_path / "ks.json"), "--region", "11x1")
    assert rc == 1 and "is not a region code" in err and len(err.splitlines()) == 1


def test_kinds_in_words():
    assert describe("PENDING", bytes((3, 3, 1))) == \
        "3 tries left before it, pad limit 3, read authenticated"
    assert describe("LOCK", bytes((2, 3))) == "locked: the pad's limit, 3 failure(s)"
    assert describe("TAMPER", b"L\x50\x05") == "host link: MAC wrong in a 'P' frame"
    assert describe("POWER_RECOVERY", bytes((1, 2, 1))).startswith(
        "after a power cut: delivered and failed; tries left now 2")
    assert describe("FULL", b"") == "card refused: journal full"
    assert describe("PIN_WRONG", b"\x07") == "07"  # short data: shown as it is
