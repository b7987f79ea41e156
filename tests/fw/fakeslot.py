# A scripted card slot for firmware unit tests (MicroPython and CPython alike).
# The script is a list of steps, played in order:
#   W(hex)  the pad must write these bytes next (strict mode checks them byte by byte)
#   R(hex)  the card sends these bytes
#   D(ms)   the card stays silent for ms of simulated time
#   X       the card is pulled out
# Past the end of the script the card is silent. Time is simulated: nothing sleeps;
# ticks_ms() is the slot's clock, to pass to the code under test as its clock.
# In lax mode (strict=False) writes are only counted (and logged with log=True).
import binascii

from errors import CardRemoved, NoCard, Timeout

_R = 0
_W = 1
_D = 2
_X = 3


def _hex(s):
    return binascii.unhexlify(s.replace(" ", ""))


def R(s):
    return (_R, _hex(s) if isinstance(s, str) else bytes(s))


def W(s):
    return (_W, _hex(s) if isinstance(s, str) else bytes(s))


def D(ms):
    return (_D, ms)


X = (_X, None)


class ScriptError(Exception):
    """The pad did something the script did not expect (a test failure, not a card error)."""


class FakeSlot:
    def __init__(self, script=(), strict=True, log=False, present=True):
        self.steps = list(script)
        self.strict = strict
        self.present = present
        self.powered = present  # tests usually start with the card already reset
        self.now = 0
        self.k = 0  # current step
        self.j = 0  # position inside it (bytes, or ms of a delay already spent)
        self.written = 0
        self.log = bytearray() if log else None
        self.activations = 0

    # --- slot interface -------------------------------------------------------
    def activate(self):
        if not self.present:
            raise NoCard("no card in the fake slot")
        self.powered = True
        self.activations += 1

    def deactivate(self):
        self.powered = False

    def read(self, timeout_ms):
        if not self.powered:
            raise CardRemoved("card not powered")
        steps = self.steps
        wait = timeout_ms  # what is left of this call's waiting time
        while True:
            if self.k >= len(steps):
                self.now += wait
                raise Timeout("fake card silent for %d ms" % timeout_ms)
            op, arg = steps[self.k]
            if op == _R:
                if not arg:
                    self.k += 1
                    continue
                b = arg[self.j]
                self._advance(len(arg))
                return b
            if op == _D:
                left = arg - self.j
                if left >= wait:
                    self.j += wait
                    self.now += wait
                    raise Timeout("fake card silent for %d ms" % timeout_ms)
                self.now += left
                wait -= left
                self.k += 1
                self.j = 0
            elif op == _X:
                self.powered = False
                self.present = False
                self.k += 1
                raise CardRemoved("card removed")
            elif self.strict:
                raise ScriptError("pad waits for the card at step %d, where the script "
                                  "expects the pad to write %s" % (self.k, _show(arg[self.j:])))
            else:
                self.k += 1
                self.j = 0

    def write(self, buf):
        if not self.powered:
            raise CardRemoved("card not powered")
        n = len(buf)
        self.written += n
        if self.log is not None:
            self.log.extend(buf)
        if not self.strict:
            return
        steps = self.steps
        for i in range(n):
            while self.k < len(steps) and steps[self.k][0] == _D:
                self.k += 1
                self.j = 0
            if self.k >= len(steps) or steps[self.k][0] != _W:
                raise ScriptError("unexpected write %s at step %d" % (_show(buf[i:]), self.k))
            exp = steps[self.k][1]
            if buf[i] != exp[self.j]:
                raise ScriptError("pad wrote %s, script expects %s (step %d)"
                                  % (_show(buf[i:]), _show(exp[self.j:]), self.k))
            self._advance(len(exp))

    def flush_input(self):
        while self.k < len(self.steps) and self.steps[self.k][0] == _R:
            self.k += 1
            self.j = 0

    # --- for tests ------------------------------------------------------------
    def ticks_ms(self):
        return self.now

    def done(self):
        """Has the whole script been played?"""
        return self.k >= len(self.steps)

    def _advance(self, n):
        self.j += 1
        if self.j >= n:
            self.k += 1
            self.j = 0


def _show(b):
    return " ".join("%02X" % x for x in bytes(b))


WWT = 1001  # WI 10 at 3.57 MHz: the work waiting time the tests' ATRs give


def h(s):
    """Bytes from spaced hex."""
    return bytes(int(x, 16) for x in s.split())


def t0_for(script, **bounds):
    """A T0 over a scripted slot, on the slot's simulated clock; bounds set as attributes."""
    from iso7816.t0 import T0
    s = FakeSlot(script)
    t = T0(s, WWT)
    t.clock = s.ticks_ms
    for k, v in bounds.items():
        setattr(t, k, v)
    return s, t
