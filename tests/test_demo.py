"""`padctl demo` on a fresh checkout: the scripted story, screens from the firmware."""
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


def test_demo_fails_when_a_screen_is_missing(monkeypatch, tmp_path):
    """The demo is a check, not a show: a missing screen makes it fail."""
    from padctl import demo
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
    for cmd in ([], ["demo"], ["sim"], ["keys"], ["sync"], ["events"], ["cards"]):
        r = subprocess.run([str(PADCTL), *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout, (cmd, r.stderr)
