"""`padctl demo` on a fresh checkout: the scripted story, screens from the firmware."""
import json
import subprocess
import sys
from pathlib import Path

from mp import HEAP

PADCTL = Path(sys.executable).parent / "padctl"


def test_demo_story_passes_and_ends_with_the_lock_event():
    r = subprocess.run([str(PADCTL), "demo", "--heap", HEAP], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    for screen in ("PIN OK", "Tries left: 2", "Tries left: 1", "Card locked"):
        assert screen in out, screen
    assert "no PIN asked, nothing spent" in out
    listing = out.split("padctl events --kind LOCK")[-1]
    assert " LOCK " in listing and "110105d156000005" in listing  # the LOCK with its card
    # the window (issue 9): the holder's unlock, an agent's reset with a weak PIN refused,
    # then a PIN change at the pad; the final sync links each to its ID check
    window = out.split("padctl events --kind LOCK")[-1]
    for screen in ("Card unlocked", "PIN too weak", "Digits in a row", "PIN reset",
                   "PIN changed"):
        assert screen in window, screen
    assert window.index("Card unlocked") < window.index("PIN reset") < window.index(
        "PIN changed")
    checks = out.split("padctl window checks")[-1].split("padctl cards")[0]
    assert "unlocked  done  WINDOW" in checks and ", UNLOCK " in checks, checks
    assert "reset  done  WINDOW" in checks and ", RESET " in checks, checks
    assert "********" in checks and "110105198" not in checks  # ID numbers masked
    events = out.split("padctl events --card")[-1].split("padctl window checks")[0]
    for kind in (" UNLOCK ", " RESET ", " CHANGE "):
        assert kind in events, kind
    cards = out.split("padctl cards --card")[-1]
    assert " ok " in cards and "locked" not in cards, cards


def test_demo_fails_when_a_screen_is_missing(monkeypatch, tmp_path):
    """The demo is a check, not a show: a missing screen makes it fail."""
    from padsim import demo
    monkeypatch.setattr(demo, "RIGHT", "000000")  # the 'right' PIN is now wrong: no PIN OK
    monkeypatch.setattr(demo, "TIMEOUT", 3.0)
    say = []
    try:
        demo.run(heap=HEAP, workdir=tmp_path, say=say.append)
    except demo.DemoFailed as e:
        assert "PIN OK" in str(e)
    else:
        raise AssertionError("demo passed without its PIN OK screen")


def test_padctl_help_on_every_command():
    for cmd in ([], ["demo"], ["sim"], ["keys"], ["sync"], ["events"], ["cards"], ["pads"],
                ["alerts"]):
        r = subprocess.run([str(PADCTL), *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout, (cmd, r.stderr)


def test_demo_in_chinese(tmp_path):
    """`padctl demo --lang zh`: the same story on a pad speaking Chinese (its screens are
    the firmware's own lang_zh.txt texts)."""
    from padsim import demo
    said = []
    assert demo.run(lang="zh", heap=HEAP, workdir=tmp_path, say=said.append) == 0
    out = "\n".join(said)
    for screen in ("密码正确", "还可尝试2次", "还可尝试1次", "卡已锁定"):
        assert screen in out, screen
    lines = (Path(__file__).parents[1] / "firmware" / "lang_zh.txt").read_text(
        encoding="utf-8").splitlines()
    for i in (32, 33, 27):  # card unlocked, PIN reset, PIN changed: the window story in Chinese
        assert lines[i].split("\t")[0] in out, lines[i]
    assert "Tries left" not in out and "110105d156000005" in out.split("LOCK")[-2] + \
        out.split("LOCK")[-1]


def _sim(workdir):
    """`padctl sim --link --dir workdir`, up to its sync command line: (process, pad line,
    the command)."""
    p = subprocess.Popen([str(PADCTL), "sim", "--link", "--dir", str(workdir), "--heap", HEAP],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.strip().startswith("padctl sync "):
            return p, lines[0], line.strip()
    raise AssertionError("no sync command printed: %r" % lines)


def test_sim_link_prints_the_sync_command_and_dir_keeps_the_pad(tmp_path):
    import shlex
    db = tmp_path / "ev.db"
    p, pad_line, cmd = _sim(tmp_path / "pad")
    try:
        argv = shlex.split(cmd)
        r = subprocess.run([str(PADCTL)] + argv[1:] + ["--db", str(db), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        first = json.loads(r.stdout)
        assert first["stored"] >= 2  # PROVISION, BOOT
    finally:
        p.communicate("q", timeout=30)
    p, pad_line2, cmd2 = _sim(tmp_path / "pad")  # again: the same pad, card and journal
    try:
        assert pad_line2.split(",")[:2] == pad_line.split(",")[:2]
        r = subprocess.run([str(PADCTL)] + shlex.split(cmd2)[1:] + ["--db", str(db), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        again = json.loads(r.stdout)
        assert (again["pad"], again["epoch"]) == (first["pad"], first["epoch"])
        assert again["stored"] >= 1 and again["head"] > first["head"]  # its new BOOT
    finally:
        p.communicate("q", timeout=30)
