"""The console's unlock and reset against the simulated pad, through the console's own
window adapter (padctl.window, issue 9) and the real firmware: a browser drives the form
while the holder (this test) inserts the card and types at the pad.

Skipped while this padctl has no window library (padctl.window) or the firmware no window
flows: tests/test_console_browser.py then covers the console up to the library call only.
"""
import threading
from pathlib import Path

import pytest

from consolekit import CLERK, HOLDER_ID, AGENT_ID, World
from test_console_browser import ARGS, CHROMIUM, run_form, shot, sign_in  # noqa: F401

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
# the heap the window flows run at in tests/test_window.py (64k)
from test_window import WINDOW_HEAP

pytestmark = [
    pytest.mark.skipif(not (FIRMWARE / "unlock.py").exists(),
                       reason="the firmware has no window flows yet (issue 9)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is missing"),
]


@pytest.fixture
def world(tmp_path):
    pytest.importorskip("padctl.window")
    w = World(tmp_path, heap=WINDOW_HEAP, real_window=True)
    w.serve()
    yield w
    w.close()


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = b.new_context(viewport={"width": 1200, "height": 900}).new_page()
        pg.set_default_timeout(20000)
        yield pg
        b.close()


def holder(pad, prompt, keys=()):
    """The holder at the pad, in a thread: waits for the window's prompt, inserts the
    card, types each of keys when asked; returns (thread, screens seen)."""
    seen = []

    def run():
        try:
            pad.expect(prompt, 30)
            pad.insert()
            for want, press in keys:
                pad.expect(want, 30)
                pad.press(press)
            seen.append(pad.expect("^(Card unlocked|PIN reset|Not authorised|ID does not "
                                   "match card|Card error|Window link lost)$", 40)[0])
        except Exception as e:  # the test asserts on it
            seen.append("error: %s" % e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, seen


def test_unlock_then_agent_reset_at_the_pad_from_the_console(page, world):
    p = world.pad
    sign_in(page, world)
    page.goto(world.url + "/cards/" + world.card)
    assert page.inner_text("#state") == "locked"
    page.click("#unlock-link")
    t, seen = holder(p, "^Unlock at the window$")
    page.fill("#holder-number", HOLDER_ID)
    page.click("#start")
    page.wait_for_selector("#outcome", timeout=60000)
    t.join(30)
    assert seen == ["Card unlocked"], seen
    assert page.inner_text("#result") == "unlocked", page.inner_text("main")
    assert "card %s" % world.card.upper() in page.inner_text("#steps")
    shot(page, "en-pad-unlock-outcome")
    page.click("#receipt-link")
    assert page.inner_text("#r-holder").endswith("110105********1232")
    assert page.inner_text("#r-clerk") == CLERK
    p.pull()
    assert p.card_fails() == 0

    t, seen = holder(p, "^PIN reset at the window$",
                     (("^Enter new PIN$", "271828E"), ("^New PIN again$", "271828E")))
    run_form(page, world, "reset", HOLDER_ID, AGENT_ID)
    page.wait_for_selector("#outcome", timeout=60000)
    t.join(30)
    assert seen == ["PIN reset"], seen
    assert page.inner_text("#result") == "reset"
    p.pull()
    assert p.attempt("271828")[0] == "PIN OK"

    world.sync()  # the pad's records name the checks: the card page shows who and what
    page.goto(world.url + "/cards/" + world.card)
    hist = page.inner_text("#history")
    assert "UNLOCK" in hist and "RESET" in hist and CLERK in hist
    assert "110105********" + AGENT_ID[-4:] in hist
    assert page.inner_text("#checks").count("done") == 2
    shot(page, "en-pad-card-after")
