"""The clerk's console in a real browser: Playwright driving Debian's Chromium by its path
(make test installs it; nothing is downloaded), against the console wired to the
simulated pad (tests/consolekit.py).

The unlock / reset flows here go through the console's window adapter to a RECORDING FAKE
of padctl.window (consolekit.RecordingWindow): this branch has no window library yet, so
the pad's part of the flow is not exercised here.

Screenshots of every page in English and Chinese go to build/console-screenshots/.
"""
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from consolekit import AGENT_ID, CLERK, HOLDER_ID, PASSWORD, World

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "build" / "console-screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="Debian's chromium is missing (make test installs it)")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("console"), page_size=3)
    w.serve()
    yield w
    w.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(10000)
    yield pg
    ctx.close()


def sign_in(page, world, lang="en"):
    page.goto(world.url + "/login?lang=" + lang)
    page.fill("#clerk-id", CLERK)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#pads")


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / ("%s.png" % name)), full_page=True)


def focus_id(page):
    return page.evaluate("document.activeElement ? document.activeElement.id : ''")


def tab_to(page, target, limit=40):
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focus_id(page))
        if seen[-1] == target:
            return seen
    raise AssertionError("Tab never reached #%s; focus went %s" % (target, seen))


def run_form(page, world, op="unlock", holder=HOLDER_ID, agent=None):
    page.goto(world.url + "/window")
    page.check("#op-" + op)
    page.fill("#holder-number", holder)
    if agent:
        page.check("#agent")
        page.fill("#agent-number", agent)
    page.click("#start")


def test_sign_in_refuses_a_wrong_password_then_shows_the_pads(page, world):
    page.goto(world.url + "/")
    assert "/login" in page.url  # every page needs a clerk
    page.fill("#clerk-id", CLERK)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "Wrong clerk id or password" in page.inner_text("#error")
    sign_in(page, world)
    row = page.inner_text("#pads")
    assert world.pad.pad_id.lower() in row and "records" in row  # free journal space
    assert page.inner_text("#clerk") == CLERK


def test_find_a_locked_card_and_its_history(page, world):
    sign_in(page, world)
    page.click("text=Locked cards")
    page.click("#cards a[href*='%s']" % world.card)
    assert page.inner_text("#state") == "locked"
    assert page.inner_text("#wrong") == "3"
    hist = page.inner_text("#history")
    assert "LOCK" in hist and hist.count("PIN_WRONG") == 3 and "PIN_OK" in hist


def test_events_filters_and_paging(page, world):
    sign_in(page, world)
    page.goto(world.url + "/events")
    page.select_option("select[name=kind]", "PIN_WRONG")
    page.click("#filters button")
    assert page.locator("#events tbody tr").count() == 3  # page size 3 in these tests
    assert "3 · Page 1 of 1" in page.inner_text("#count")
    page.goto(world.url + "/events?card=" + world.card)
    n = int(page.inner_text("#count").split()[0])
    assert n >= 8 and page.locator("#events tbody tr").count() == 3
    page.click("#next")
    assert "Page 2 of" in page.inner_text("#count")
    page.click("#prev")
    assert "Page 1 of" in page.inner_text("#count")
    page.goto(world.url + "/events?pad=%s&since=2000-01-01&until=2000-01-02" % world.pad.pad_id)
    assert page.locator("#events tbody tr").count() == 0
    page.goto(world.url + "/events?card=nothex")
    assert "32 hex digits" in page.inner_text("#error")


def test_unlock_with_the_holders_document_and_the_receipt(page, world):
    sign_in(page, world)
    page.goto(world.url + "/cards/" + world.card)
    page.click("#unlock-link")
    page.wait_for_load_state()  # the form's script runs on load: typing before it, the
    # hint is never set (failed once on a loaded machine: '' for the hint)
    assert page.inner_text("#for-card") == world.card
    page.fill("#holder-number", HOLDER_ID)
    assert "right" in page.inner_text("#holder-hint")
    page.click("#start")
    assert "In progress" in page.inner_text("#state")  # the page follows the pad
    page.wait_for_selector("#outcome", timeout=15000)
    assert page.inner_text("#state") == "Done" and page.inner_text("#result") == "unlocked"
    assert "the pad asks for the card" in page.inner_text("#steps")
    run = world.window.runs()[-1]
    assert run == ("run", "unlock", world.pad.pad_id.lower(), CLERK, "ID:" + HOLDER_ID, None)
    page.click("#receipt-link")
    assert page.inner_text("#r-holder").endswith("110105********1232")
    assert HOLDER_ID not in page.content()  # never the number in clear
    assert page.inner_text("#r-clerk") == CLERK and page.inner_text("#r-op") == "unlock"
    page.emulate_media(media="print")
    assert not page.is_visible("header") and page.is_visible("#receipt")


def test_reset_with_an_agent(page, world):
    sign_in(page, world)
    run_form(page, world, "reset", HOLDER_ID, AGENT_ID)
    page.wait_for_selector("#outcome", timeout=15000)
    assert page.inner_text("#result") == "reset"
    assert world.window.runs()[-1][1:] == ("reset", world.pad.pad_id.lower(), CLERK,
                                           "ID:" + HOLDER_ID, "ID:" + AGENT_ID)
    page.click("#receipt-link")
    assert page.inner_text("#r-agent") == "ID 110105********" + AGENT_ID[-4:]


def test_an_agent_cannot_unlock_and_must_show_a_document(page, world):
    sign_in(page, world)
    before = len(world.window.runs())
    run_form(page, world, "unlock", HOLDER_ID, AGENT_ID)
    assert "an agent may only reset" in page.inner_text("#error")
    page.check("#op-reset")
    page.fill("#agent-number", "")
    page.click("#start")
    assert "agent's document is required" in page.inner_text("#error")
    assert len(world.window.runs()) == before


def test_a_wrong_check_digit_is_shown_as_typed_and_refused_by_the_server(page, browser, world):
    sign_in(page, world)
    page.goto(world.url + "/window")
    bad = HOLDER_ID[:17] + ("0" if HOLDER_ID[17] != "0" else "1")
    page.type("#holder-number", bad)
    hint = page.inner_text("#holder-hint")
    assert "wrong check digit" in hint and "expected %s" % HOLDER_ID[17] in hint
    assert page.get_attribute("#holder-number", "aria-invalid") == "true"
    shot(page, "en-window-wrong-digit")
    before = len(world.window.runs())
    page.click("#start")  # the server checks again (the script could be off)
    assert "wrong check digit" in page.inner_text("#error")
    assert len(world.window.runs()) == before
    # with no script at all the server still says it
    ctx = browser.new_context(java_script_enabled=False)
    p2 = ctx.new_page()
    sign_in(p2, world)
    run_form(p2, world, "unlock", bad)
    assert "wrong check digit" in p2.inner_text("#error")
    ctx.close()
    assert len(world.window.runs()) == before


class _Evil(BaseHTTPRequestHandler):
    target = None

    def do_GET(self):
        body = ("<form id=f method=post action='%s/window'><input name=op value=unlock>"
                "<input name=holder_type value=ID><input name=holder_number value=%s>"
                "<input name=csrf value=guess></form><script>document.getElementById('f')"
                ".submit()</script>" % (self.target, HOLDER_ID)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_a_csrf_attempt_is_refused(page, world):
    sign_in(page, world)
    before = len(world.window.runs())
    _Evil.target = world.url
    evil = HTTPServer(("127.0.0.1", 0), _Evil)  # another origin (another port)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto("http://127.0.0.1:%d/" % evil.server_port)
        page.wait_for_url(world.url + "/window")
        assert "not sent by this console" in page.inner_text("#refused")
    finally:
        evil.shutdown()
    # from the console's own origin, but without the session's token
    r = page.request.post(world.url + "/window", headers={"Origin": world.url},
                          form={"op": "unlock", "holder_type": "ID",
                                "holder_number": HOLDER_ID, "csrf": "0" * 48})
    assert r.status == 403
    # with the right token but another Origin
    page.goto(world.url + "/window")
    token = page.get_attribute("input[name=csrf]", "value")
    r = page.request.post(world.url + "/window", headers={"Origin": "http://evil.example"},
                          form={"op": "unlock", "holder_type": "ID",
                                "holder_number": HOLDER_ID, "csrf": token})
    assert r.status == 403
    assert len(world.window.runs()) == before


def test_the_unlock_form_by_keyboard_only(page, world):
    sign_in(page, world)
    page.goto(world.url + "/window")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    order = tab_to(page, "op-unlock")
    assert order[0] == "skip"  # the skip link comes first
    assert "holder-number" not in order  # the operation comes before the documents
    page.keyboard.press("ArrowDown")  # radio group: to reset
    assert page.is_checked("#op-reset")
    page.keyboard.press("ArrowUp")
    assert page.is_checked("#op-unlock")
    tab_to(page, "holder-type")
    tab_to(page, "holder-number")
    page.keyboard.type(HOLDER_ID[:17] + "0")
    assert "wrong check digit" in page.inner_text("#holder-hint")
    page.keyboard.press("Backspace")
    page.keyboard.type(HOLDER_ID[17])
    assert "right" in page.inner_text("#holder-hint")
    seen = tab_to(page, "start")
    assert "pad" in seen  # the pad's choice is on the way, by keyboard
    page.keyboard.press("Enter")
    page.wait_for_selector("#outcome", timeout=15000)
    assert page.inner_text("#result") == "unlocked"
    tab_to(page, "receipt-link")
    page.keyboard.press("Enter")
    page.wait_for_selector("#receipt")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshots_of_every_page(page, world, lang):
    page.goto(world.url + "/login?lang=" + lang)
    shot(page, "%s-login" % lang)
    sign_in(page, world, lang)
    if not world.window.stored:
        run_form(page, world)
        page.wait_for_selector("#outcome", timeout=15000)
    ref = world.window.stored[-1]["ref"]
    pages = {"pads": "/", "events": "/events", "cards": "/cards?state=locked",
             "card": "/cards/" + world.card, "alerts": "/alerts", "window": "/window",
             "receipt": "/receipt/" + ref}
    for name, path in pages.items():
        page.goto(world.url + path)
        shot(page, "%s-%s" % (lang, name))
    page.emulate_media(media="print")  # the receipt as it prints: no menus, no buttons
    shot(page, "%s-receipt-print" % lang)
    page.emulate_media(media="screen")
    want = {"en": "Unlock / reset", "zh": "解锁 / 重置"}[lang]
    assert want in page.inner_text("header")
    run_form(page, world)
    shot(page, "%s-progress" % lang)
    page.wait_for_selector("#outcome", timeout=15000)
    shot(page, "%s-outcome" % lang)
    assert re.search(r"%s-\w+\.png" % lang, " ".join(os.listdir(SHOTS)))
