"""The clerk's console wired to a simulated pad, for tests/test_console*.py.

``World``: a PadSim whose card was locked by three wrong PINs (after one right one), its
journal synced into an event store with padctl.sync; a clerk made with the clerks
module; the console app (padctl.console.app.create_app) served on 127.0.0.1 by werkzeug
in a thread.

``RecordingWindow`` stands in for winapi.WindowAdapter (padctl.window) while this branch
has no window library: it records every call the console makes through the adapter and
answers as the library would (documents refused with the library's messages, an
outcome, a stored check). Where it is used, the unlock / reset at the pad itself is NOT
exercised: only the console up to the library call.
"""
import threading
import time

from padctl import sync
from padctl.console.app import create_app
from padctl.console.clerks import Clerks
from padctl.console.winapi import ConsoleWindowError, PadPort
from padctl.idnumber import DEFAULT_HOLDER_ID, gb11643_check_digit

CLERK, PASSWORD = "wang.li", "correct horse 42"
AGENT_ID = "110105198502153218"  # test material: region 110105, born 1985-02-15



class RecordingWindow:
    """A recording fake with WindowAdapter's methods (see the module docstring)."""

    DOC_TYPES = [("ID", "resident identity card"),
                 ("RP", "residence permit for Hong Kong, Macao or Taiwan residents"),
                 ("FPR", "foreigner's permanent residence ID card"), ("PASSPORT", "passport"),
                 ("HKMO", "mainland travel permit for Hong Kong and Macao residents"),
                 ("TW", "mainland travel permit for Taiwan residents")]
    NUMBERED = ("ID", "RP", "FPR")

    def __init__(self, pads, card, region="110105", delay=1.5):
        self.pads, self.card, self.region, self.delay = pads, card, region, delay
        self.calls, self.stored, self.available = [], [], None

    def doc_types(self):
        return list(self.DOC_TYPES), self.NUMBERED

    @staticmethod
    def _mask(n):
        return n[:6] + "*" * 8 + n[-4:] if len(n) == 18 else n[:2] + "*" * (len(n) - 4) + n[-2:]

    def check(self, holder, agent=None):
        self.calls.append(("check", holder, agent))
        out = []
        for role, spec in (("holder", holder), ("agent", agent)):
            if spec is None:
                out.append(None)
                continue
            t, _, n = spec.partition(":")
            if t in self.NUMBERED:
                if len(n) != 18 or not n[:17].isdigit():
                    raise ConsoleWindowError("%s's document: 18 characters expected" % role)
                want = gb11643_check_digit(n[:17])
                if n[17] != want:
                    raise ConsoleWindowError("%s's document %s: wrong check digit (GB 11643: "
                                             "%s expected)" % (role, self._mask(n), want))
            out.append(self._mask(n))
        return tuple(out)

    def run(self, op, pad, clerk, holder, agent=None, progress=None, wait=300.0):
        self.calls.append(("run", op, pad.key, clerk, holder, agent))
        say = progress or (lambda s: None)
        say("the pad asks for the card")
        time.sleep(self.delay)  # the progress page shows the operation running
        say("card %s (region %s, tries left 0)" % (self.card.upper(), self.region))
        ref = "%012x" % (len(self.stored) + 0xA1B2C3D40000)
        ht, _, hn = holder.partition(":")
        at, _, an = (agent or "").partition(":")
        self.stored.append({"ref": ref, "at": time.time(), "clerk": clerk, "op": op,
                            "region": self.region, "holder_type": ht,
                            "holder_masked": self._mask(hn), "agent_type": at or None,
                            "agent_masked": self._mask(an) if an else None,
                            "pad_id": pad.pad_id, "card_id": self.card,
                            "result": "unlocked" if op == "unlock" else "reset",
                            "records": [], "journaled": "not synced"})
        return {"op": op, "ref": ref, "pad": pad.pad_id, "card": self.card, "done": True,
                "result": self.stored[-1]["result"], "sw": "9000"}

    def checks(self, card=None):
        return [c for c in self.stored if card is None or c["card_id"] == card]

    def check_ref(self, ref):
        return next((c for c in self.stored if c["ref"] == ref), None)

    def runs(self):
        return [c for c in self.calls if c[0] == "run"]


def _padsim():
    from padkit import PadSim
    from padctl.mpy import HEAP

    class LinkedPad(PadSim):
        """A PadSim whose firmware also has its host link (a pty at .port), at its heap
        (PadSim's heap: every start, the restarts too)."""

        def start(self, env=None, heap=HEAP, link=False):
            return PadSim.start(self, env, self.heap, link=True)
    return LinkedPad


def LinkedPad(workdir, heap=None):
    return _padsim()(workdir, heap=heap or __import__("padctl.mpy").mpy.HEAP)


class World:
    def __init__(self, tmp, heap=None, real_window=False, **app_kw):
        """real_window: the console's own WindowAdapter (padctl.window) with the pad's
        keystore and region, instead of the RecordingWindow."""
        self.pad = LinkedPad(tmp / "pad", heap)
        try:
            self.pad.attempt(self.pad.pin)
            for _ in range(3):
                self.pad.attempt("999999")
            self.db = str(tmp / "events.db")
            self.sync()
        except BaseException:
            self.pad.close()
            raise
        self.card = self.pad.ident.card_id.hex()
        self.clerks = Clerks(tmp / "clerks.json")
        self.clerks.add(CLERK, PASSWORD, "Wang Li")
        self.pads = [PadPort("%s@%s" % (self.pad.pad_id, self.pad.port))]
        if real_window:
            from padctl.console.winapi import WindowAdapter
            self.window = WindowAdapter(self.db, self.pad.ks, self.pad.region, self.pads)
        else:
            self.window = RecordingWindow(self.pads, self.card)
        self.app = create_app(self.db, self.clerks, self.window, "Dongcheng window 3", **app_kw)
        self.server = None

    def sync(self):
        return sync.sync(self.pad.port, self.db, bytes.fromhex(self.pad.config["link_key"]))

    def serve(self):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_port
        return self.url

    def close(self):
        if self.server is not None:
            self.server.shutdown()
        self.pad.close()


HOLDER_ID = DEFAULT_HOLDER_ID
