"""The console's one seam to ``padctl.window`` (issue 9's library, the CLI's too).

Every call the console makes into the window library goes through WindowAdapter, so a
change of that library's API touches this file only. Tests give the app another object
with the same methods (a recording fake) where the simulated pad cannot do the flow.
"""
import threading


class ConsoleWindowError(Exception):
    """A refusal with a one-line message (bad document, pad or card said no, link)."""


def _lib():
    try:
        from .. import window
    except ImportError:
        return None
    return window


class PadPort:
    """A pad the console may use: its serial port, and its id when known (16 hex)."""

    def __init__(self, spec):
        pad, _, port = spec.rpartition("@")
        if pad:
            try:
                if len(bytes.fromhex(pad)) != 8:
                    raise ValueError
            except ValueError:
                raise ConsoleWindowError("--pad-port %s: PADID@PORT, PADID 16 hex digits"
                                         % spec) from None
        if not port:
            raise ConsoleWindowError("--pad-port: give the pad's serial port, or PADID@PORT")
        self.port, self.pad_id = port, (pad.lower() or None)
        self.lock = threading.Lock()  # one operation at a time on a pad

    @property
    def key(self):
        return self.pad_id or self.port


class WindowAdapter:
    """padctl.window for the console: documents, the operation at a pad, the checks."""

    def __init__(self, db, keystore=None, region=None, pads=()):
        self.db, self.keystore, self.region = db, keystore, region
        self.pads = list(pads)
        self.lib = _lib()
        self._keys = None

    @property
    def available(self):
        """None when the window can work, else why not (one line)."""
        if self.lib is None:
            return "this padctl has no window library (padctl.window)"
        if not self.keystore or not self.region:
            return "the console was started without --keystore and --region"
        if not self.pads:
            return "the console was started without --pad-port"
        return None

    def doc_types(self):
        """[(code, English name)] of the documents a window accepts, and the codes whose
        number carries a GB 11643 check digit."""
        if self.lib is None:
            return [], ()
        return list(self.lib.DOC_TYPES.items()), tuple(self.lib.NUMBERED)

    def check(self, holder, agent=None):
        """The documents checked as the library checks them (GB 11643 etc.): returns
        (holder masked, agent masked or None); ConsoleWindowError says what is wrong."""
        if self.lib is None:
            raise ConsoleWindowError(self.available)
        try:
            h, a = self.lib.check_documents(holder, agent)
        except self.lib.WindowError as e:
            raise ConsoleWindowError(str(e)) from None
        return h.masked, (a.masked if a else None)

    def _keyservice(self):
        if self._keys is None:
            try:
                self._keys = self.lib.KeyService(self.keystore, self.region)
            except Exception as e:  # a missing or bad keystore: one line, no traceback
                raise ConsoleWindowError("key service: %s" % e) from None
        return self._keys

    def run(self, op, pad, clerk, holder, agent=None, progress=None, wait=300.0):
        """One unlock ("unlock") or reset ("reset") at pad (a PadPort) for clerk; returns
        {op, ref, pad, card, done, result, sw}; ConsoleWindowError on a refusal."""
        why = self.available
        if why:
            raise ConsoleWindowError(why)
        lib = self.lib
        from .. import link as L
        try:
            out = lib.window(pad.port, self._keyservice(), self.db, lib.OPS[op], clerk, holder,
                             agent, bytes.fromhex(pad.pad_id) if pad.pad_id else None, wait,
                             progress=progress)
        except (lib.WindowError, L.LinkError, OSError, ValueError) as e:
            raise ConsoleWindowError(str(e) or type(e).__name__) from None
        return {"op": out.op, "ref": out.ref, "pad": out.pad, "card": out.card,
                "done": out.done, "result": out.result, "sw": out.sw}

    def checks(self, card=None):
        """The window's ID checks (masked numbers, clerk, document types, result)."""
        if self.lib is None:
            return []
        try:
            c = self.lib.Checks(self.db)
        except self.lib.WindowError as e:
            raise ConsoleWindowError(str(e)) from None
        try:
            return c.list(card)
        finally:
            c.close()

    def check_ref(self, ref):
        for c in self.checks():
            if c["ref"] == ref:
                return c
        return None
