"""`padctl demo`: a scripted story on the simulated pad, no terminal needed.

The screens printed are the ones the firmware's display driver sent; the demo fails
(non-zero) as soon as an expected screen does not appear.
"""
import tempfile
import time

from .sim import Sim

RIGHT, WRONG = "123456", "654321"
TIMEOUT = 15.0  # seconds an expected screen may take
WINDOW_PASSPHRASE = "padctl demo window - TEST MATERIAL"

# the screens the story waits for: (line of firmware/lang_<lang>.txt, which of its two
# texts); the demo follows the pad's language
SCREENS = {"insert card": (0, 0), "Enter PIN": (2, 0), "PIN OK": (3, 0),
           "Tries left": (4, 1), "Card locked": (5, 0)}


def screen_texts(lang):
    """{story name: the pad's text in lang} (from the firmware's own message table)."""
    from padctl.mpy import FIRMWARE
    lines = (FIRMWARE / ("lang_%s.txt" % lang)).read_text(encoding="utf-8").splitlines()
    return {name: lines[i].split("\t")[part] for name, (i, part) in SCREENS.items()}


class DemoFailed(RuntimeError):
    pass


def _box(l1, l2):
    w = max(24, len(l1), len(l2))
    return "+%s+\n|%s|\n|%s|\n+%s+" % ("-" * w, l1.ljust(w), l2.ljust(w), "-" * w)


class Story:
    def __init__(self, sim, say, lang="en"):
        self.sim = sim
        self.say = say
        self.mark = 0
        self.texts = screen_texts(lang)

    def expect(self, name, timeout=None, arg=None):
        """The screen named (SCREENS; its {} filled with arg) in the pad's language."""
        import re
        text = self.texts.get(name, name)
        pattern = re.escape(text.replace("{}", "%s" % arg) if arg is not None
                            else text.split("{}")[0])
        timeout = timeout or TIMEOUT
        try:
            i, (l1, l2) = self.sim.ui.wait_for(pattern, timeout, after=self.mark)
        except TimeoutError as e:
            raise DemoFailed("screen %r not shown (%s)" % (name, e))
        self.mark = i + 1
        self.say(_box(l1, l2))
        return l1, l2

    def insert(self):
        self.say("\n> cardholder inserts the card")
        self.sim.insert()

    def pull(self):
        self.say("> cardholder takes the card back")
        self.sim.pull()
        self.expect("insert card")

    def pin(self, digits):
        self.expect("Enter PIN")
        self.say("> cardholder types %s and Enter" % ("the right PIN" if digits == RIGHT else
                                                     "a wrong PIN"))
        self.sim.ui.press(digits + "E")


def story(sim, say, lang="en"):
    s = Story(sim, say, lang)
    s.expect("insert card")
    s.insert()
    s.pin(RIGHT)
    s.expect("PIN OK")
    s.pull()
    for left in (2, 1):
        s.insert()
        s.pin(WRONG)
        s.expect("Tries left", arg=left)
        s.pull()
    s.insert()
    s.pin(WRONG)
    s.expect("Card locked")
    s.pull()
    s.insert()
    say("> the cardholder tries again with the right PIN")
    s.expect("Card locked")
    if any(l1 == "Enter PIN" for l1, _ in sim.ui.screens[s.mark:]):
        raise DemoFailed("the pad asked for a PIN on a locked card")
    tries = sim.card_tries()
    if tries != 0:
        raise DemoFailed("the card should be locked, it reports %d tries" % tries)
    say("  (no PIN asked, nothing spent: the card still reports 0 tries left)")
    s.pull()
    return s


def sync_and_show(sim, say):
    """The clerk's PC syncs the pad's journal, then lists the LOCK event with its card."""
    from padctl import store, sync
    from padctl.keysvc.compat import PadLinks
    db = sim.dir / "host.db"
    links = sim.dir / "window.keys"
    PadLinks.write(links, WINDOW_PASSPHRASE, {sim.pad_id: (sim.region, sim.ks.pad_link_key(
        sim.region, sim.pad_id))}, scrypt_n=1 << 10)
    ks = PadLinks.open(links, WINDOW_PASSPHRASE)
    say("\n> the key service gives the clerk's PC a key file with this pad's link key only "
        "(padctl keys pad-links, sealed): pads %s" % ", ".join(ks.pads()))
    say("> the clerk's PC syncs the pad over its serial line (%s)" % sim.port)
    try:
        res = sync.sync(sim.port, db, lambda pad_id: ks.pad_link_key(None, pad_id))
    except sync.SyncError as e:
        raise DemoFailed("sync failed: %s" % e)
    say("  %d record(s) stored and acknowledged, pad %s, epoch %d"
        % (res.stored, res.pad, res.epoch))
    import contextlib
    import io

    from padctl import cli
    say("> padctl events --kind LOCK")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["events", "--db", str(db), "--kind", "LOCK"])
    say("  " + out.getvalue().rstrip().replace("\t", "  ").replace("\n", "\n  "))
    rows = [e for e in store.Store(db).events(kind="LOCK")]
    if rc or not any(e["card"].lower() == sim.card_id.lower() for e in rows) \
            or sim.card_id.lower() not in out.getvalue().lower():
        raise DemoFailed("the LOCK event of card %s is not in the host's events" % sim.card_id)


# --- the window (issue 9), then a PIN change at the pad --------------------------------------

CLERK = "wang.li"
AGENT_DOC = "ID:110105198502153218"  # test material: an agent of region 110105
WEAK, NEW_PIN = "123456", "271828"
CHANGED_PIN = "314159"  # the PIN change at the pad after the reset: NEW_PIN -> this
# the window's and the change's screens: line of firmware/lang_<lang>.txt (its first text)
WINDOW_LINES = {"unlock": 28, "reset": 29, "new": 24, "again": 25, "unlocked": 32,
                "done reset": 33, "weak": 17, "change": 22, "old": 23, "changed": 27}


def window_screens(lang="en"):
    """{name: a pattern matching that screen's first line in the pad's language}."""
    import re
    from padctl.mpy import FIRMWARE
    lines = (FIRMWARE / ("lang_%s.txt" % lang)).read_text(encoding="utf-8").splitlines()
    return {k: "^%s$" % re.escape(lines[i].split("\t")[0]) for k, i in WINDOW_LINES.items()}


def window_available():
    """True when this padctl has the window's driver and the firmware its window flows
    (issue 9): only then can window_story run."""
    import importlib.util
    from padctl.mpy import FIRMWARE
    try:
        found = importlib.util.find_spec("padctl.winlink") is not None
    except ImportError:
        found = False
    return found and (FIRMWARE / "unlock.py").exists()


def window_story(sim, say, db, wait=60.0, lang="en"):
    """At the window: the holder's unlock in person, then a reset by an agent with both
    documents (a weak PIN refused at the pad, then a new one), each through padctl.window
    as the CLI and the console call it; the holder at the pad is a thread. Returns the
    outcomes. Needs window_available()."""
    import re
    import threading

    from padctl import window as W
    from padctl.idnumber import DEFAULT_HOLDER_ID
    keys = W.KeyService(sim.ks, sim.region)
    pad = bytes.fromhex(sim.pad_id)
    outcomes = []
    screens = window_screens(lang)

    def holder(prompt, typed=()):
        seen = []

        def go():
            try:
                mark = len(sim.ui.screens)
                i, _ = sim.ui.wait_for(screens[prompt], wait, after=mark)
                say("> cardholder inserts the card")
                sim.insert()
                for want, digits in typed:
                    i, lines = sim.ui.wait_for(screens[want], wait, after=i + 1)
                    say(_box(*lines))
                    say("> cardholder types %s%s" % ("a weak PIN" if digits == WEAK else
                                                     "the new PIN",
                                                     " again" if want == "again" else ""))
                    sim.ui.press(digits + "E")
                i, lines = sim.ui.wait_for(screens["unlocked" if prompt == "unlock"
                                                   else "done reset"], wait, after=i + 1)
                say(_box(*lines))
            except Exception as e:  # the story fails on it below
                seen.append(e)
        t = threading.Thread(target=go, daemon=True)
        t.start()
        return t, seen

    for op, agent, typed in (
            ("unlock", None, ()),
            ("reset", AGENT_DOC, (("new", WEAK),  # a run: refused, its reason shown
                                  ("weak", NEW_PIN), ("again", NEW_PIN)))):
        say("\n> the clerk checks %s and starts the %s at the pad"
            % ("the holder's ID card" if agent is None else
               "the holder's and the agent's ID cards", op))
        t, seen = holder(op, typed)
        try:
            out = W.window(sim.port, keys, db, W.OPS[op], CLERK, "ID:" + DEFAULT_HOLDER_ID,
                           agent, pad, wait, progress=lambda line: say("  " + line))
        except W.WindowError as e:
            raise DemoFailed("window %s refused: %s" % (op, e))
        t.join(wait)
        if seen or not out.done:
            raise DemoFailed("window %s: %s" % (op, seen[0] if seen else out.result))
        say("  %s: %s (check %s)" % (op, out.result, out.ref))
        outcomes.append(out)
        sim.pull()
        if not re.search("unlocked|reset", out.result):
            raise DemoFailed("window %s: %s" % (op, out.result))
    return outcomes


def change_story(sim, say, lang="en"):
    """The holder changes the PIN at the pad (no window): the function key, the card, the
    old PIN (the one the reset set), the new one twice; then the new PIN verifies."""
    screens = window_screens(lang)
    mark = len(sim.ui.screens)

    def see(name, timeout=TIMEOUT):
        nonlocal mark
        try:
            i, lines = sim.ui.wait_for(screens.get(name, name), timeout, after=mark)
        except TimeoutError as e:
            raise DemoFailed("screen %r not shown (%s)" % (name, e))
        mark = i + 1
        say(_box(*lines))

    say("\n> the cardholder presses the function key (#) to change the PIN")
    for _ in range(10):  # (the pad may still be restarting from the window's boot)
        sim.ui.press("#")
        try:
            see("change", 2.0)
            break
        except DemoFailed:
            pass
    else:
        see("change")
    say("> cardholder inserts the card")
    sim.insert()
    for name, digits, what in (("old", NEW_PIN, "the PIN the reset set"),
                               ("new", CHANGED_PIN, "a new PIN"),
                               ("again", CHANGED_PIN, "the new PIN again")):
        see(name)
        say("> cardholder types %s" % what)
        sim.ui.press(digits + "E")
    see("changed")
    sim.pull()
    s = Story(sim, say, lang)
    s.mark = mark
    s.expect("insert card")
    s.insert()
    s.expect("Enter PIN")
    say("> cardholder types the changed PIN")
    sim.ui.press(CHANGED_PIN + "E")
    s.expect("PIN OK")
    s.pull()


def final_sync(sim, say, db):
    """The clerk's PC syncs the pad again: the window's UNLOCK and RESET (each linked to
    its ID check) and the CHANGE are in the host's events, and `padctl cards` shows the
    card's state as the last of them left it."""
    import contextlib
    import io

    from padctl import cli, store, sync
    from padctl.keysvc.compat import PadLinks
    ks = PadLinks.open(sim.dir / "window.keys", WINDOW_PASSPHRASE)
    say("\n> the clerk's PC syncs the pad again")
    try:
        res = sync.sync(sim.port, db, lambda pad_id: ks.pad_link_key(None, pad_id))
    except sync.SyncError as e:
        raise DemoFailed("sync failed: %s" % e)
    say("  %d record(s) stored and acknowledged" % res.stored)
    for args in (["events", "--card", sim.card_id], ["window", "checks", "--card", sim.card_id],
                 ["cards", "--card", sim.card_id]):
        say("> padctl " + " ".join(args))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = cli.main(args + ["--db", str(db)])
        if rc:
            raise DemoFailed("padctl %s failed" % args[0])
        say("  " + out.getvalue().rstrip().replace("\t", "  ").replace("\n", "\n  "))
    kinds = [e["kind"] for e in store.Store(db).events(card=sim.card_id)]
    for k in ("LOCK", "UNLOCK", "RESET", "CHANGE"):
        if k not in kinds:
            raise DemoFailed("no %s event of card %s in the host's events" % (k, sim.card_id))
    card = store.Store(db).cards(card=sim.card_id)
    if not card or card[0]["state"] != "ok" or card[0]["wrong"] != 0:
        raise DemoFailed("padctl cards: %r" % (card,))


def run(lang="en", heap="64k", workdir=None, say=print):
    with tempfile.TemporaryDirectory(prefix="padctl-demo-") as tmp:
        with Sim(workdir or tmp, lang=lang) as sim:
            say("Simulated pad %s, card %s (PSAM, card and pad keys from the simulator's key "
                "service: test roots generated for this run, sealed)"
                % (sim.pad_id, sim.card_id))
            sim.start(heap=heap, link=True)
            t0 = time.monotonic()
            try:
                story(sim, say, lang)
                sync_and_show(sim, say)
                if window_available():  # (an installed padctl without the window's driver:
                    db = sim.dir / "host.db"  # the story ends at the sync)
                    window_story(sim, say, db, TIMEOUT * 4, lang)
                    change_story(sim, say, lang)
                    final_sync(sim, say, db)
                log = (sim.dir / "pad.log").read_text(errors="replace")
                if "Traceback" in log:  # (restarts are by design: the window's, the link's)
                    raise DemoFailed("the pad crashed (%d restart(s))" % sim.resets)
            except DemoFailed as e:
                sim.stop()
                log = (sim.dir / "pad.log").read_text(errors="replace").strip().splitlines()
                raise DemoFailed("%s\npad's last output:\n  %s" % (e, "\n  ".join(log[-8:])))
            finally:
                sim.stop()
            say("\ndemo: all expected screens shown (%.1f s)" % (time.monotonic() - t0))
    return 0
