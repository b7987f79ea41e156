"""The window's side of unlock and reset at the pad (DESIGN section 7, docs/protocol.md
9.7): the driver ``run(...)`` that padctl.window calls once the clerk's ID check is done.

Over the pad's link (``padctl.link.PadLink``: frames, HELLO, and the window messages)::

    host                                   pad
    HELLO  ------------------------------>  (link-first boot)
    W op wait nonce MAC  ---------------->  restarts into its window boot
           <------------------------------  w READY                  "Unlock at the window"
           <------------------------------  w CARD ef05 tries nonce   (card in, genuine)
    keys.check_card; U authorisation  --->  checks it (MAC, nonce, expiry, pad, card, op,
                                            holder-ID hash), for reset the new PIN twice
           <------------------------------  w CHALLENGE R [E_new]
    keys.command_mac: C M  -------------->  WINDOW intent journaled, the command to the card
           <------------------------------  w ANSWER SW [SM answer]
    M' checked by keys.command_mac: V  -->  UNLOCK / RESET journaled (or WINDOW FE)
           <------------------------------  w END screen reason SW

``keys`` (given by padctl.window): ``check_card(card_id, ef05)`` raises for a card the
department may not serve; ``command_mac(ef05, mac_type, challenge, data)`` -> 4 bytes
(5 unblock, 6 reload), the only place an UNBLOCK or RELOAD MAC is computed.
"""
import os
from dataclasses import dataclass

from . import link as L

OPS = {"unlock": 1, "reset": 2}
HEADS = {1: b"\x84\x24\x00\x00", 2: b"\x84\x5e\x00\x00"}  # PIN UNBLOCK, RELOAD PIN
MAC_TYPES = {1: 5, 2: 6}  # the unblock and reload keys (protocol.md 2)
READY, CARD, CHALLENGE, ANSWER, END = 1, 2, 3, 4, 5
# the pad's screens (firmware/messages.py numbers, lang_en.txt) an END may name
SCREENS = {
    5: "card locked", 6: "card of another region", 7: "not a social security card",
    8: "card error", 9: "security module error", 10: "log full", 11: "timed out",
    12: "cancelled", 14: "card not genuine", 16: "card pulled", 30: "not authorised",
    31: "ID does not match card", 32: "unlocked", 33: "reset", 34: "window link lost",
}
UNLOCKED, PIN_RESET = 32, 33
# why the pad refused an authorisation (the END's reason, AUTH_REFUSED data byte 6)
AUTH_REASONS = {
    1: "the authorisation's MAC is wrong (forged, or another pad's key)",
    2: "the authorisation is stale (replayed, or not this operation's nonce)",
    3: "the authorisation expired",
    4: "the authorisation names another pad",
    5: "the authorisation names another card",
    6: "the authorisation is for another operation",
    7: "the holder's ID number does not match the card",
    8: "the command MAC message did not authenticate",
}
ABORT = 0x10  # the host's ERROR code that ends the operation at the pad (9.7)


class WindowRefused(Exception):
    """The pad or the card said no (or the holder, the link): str(e) is one line; .pad
    and .card (bytes, or None) when known (padctl.window keeps them on the check)."""

    def __init__(self, text, pad=None, card=None):
        Exception.__init__(self, text)
        self.pad, self.card = pad, card


@dataclass
class Outcome:
    op: str
    ref: str  # 12 hex digits
    pad: str  # 16 hex digits
    card: str  # 32 hex digits
    done: bool  # the card did it, proven by its SM answer
    result: str  # "unlocked", "reset", or a short reason
    sw: str  # 4 hex digits of the card's SW, or ""


class WindowOp:
    """One operation on one PadLink, step by step (run() strings them together; tests
    call the steps to tamper with one)."""

    def __init__(self, link, op, ref, holder_id, keys, progress=None):
        self.link, self.op, self.ref = link, op, bytes(ref)
        self.holder_id = holder_id.encode("ascii")
        self.keys = keys
        self.say = progress or (lambda s: None)
        self.prev = b""  # the MAC of the last message: the next one chains to it
        self.pad_prev = None  # the MAC of the pad's last message
        self.card = self.ef05 = self.nonce = self.challenge = self.e_new = self.mac = None
        self.tries = None
        self.answer = None
        self.sw = ""

    # the pad's messages
    def _next(self, timeout, *steps):
        try:
            p = self.link.window_next(self.prev, timeout)
        except L.AuthError:  # an END after a message of ours the pad refused chains to
            if self.pad_prev is None:  # its own last message
                raise
            p = self.link.window_next(self.pad_prev, timeout, again=True)
            if p[1] != END:
                raise
        self.prev = self.pad_prev = p[-16:]
        if p[1] == END:
            self.end = (p[2], p[3], p[4] << 8 | p[5])
            if END not in steps:
                self._ended(p)
        if p[1] not in steps:
            raise L.LinkError("window: step %d where %s was due" % (p[1], steps))
        return p

    def _ended(self, p):
        screen, why = p[2], p[3]
        if screen in (UNLOCKED, PIN_RESET):
            return
        text = AUTH_REASONS.get(why) or SCREENS.get(screen, "the pad ended (screen %d)" % screen)
        raise WindowRefused("the pad refused: %s" % text)

    def start(self, wait):
        """HELLO (the pad restarts into its link-first boot), W; the pad restarts into its
        window boot and answers READY."""
        self.link.drain()
        self.link.hello(wait=60.0)
        w = self.link.window_request(self.op, wait)
        self.link.send(w)
        self.prev = w[-16:]
        self._next(20.0, READY)
        self.say("the pad asks for the card")

    def wait_card(self, wait):
        p = self._next(wait + 15.0, CARD)
        self.ef05, self.tries = p[2:40], p[40]
        self.card, self.nonce = self.ef05[:16], p[42:58]
        region = self.ef05[0:3].hex()
        self.say("card %s (region %s, tries left %s%s)" % (
            self.card.hex().upper(), region, "?" if self.tries == 0xFF else self.tries,
            "" if p[41] else ", plain"))
        return p

    def abort(self, code=ABORT):
        """End the operation at the pad (an ERROR frame: not authenticated, it can only
        stop the pad, which then spends nothing)."""
        self.link.send(bytes((L.ERROR, code)))

    def authorisation(self, op=None, pad_id=None, card=None, nonce=None, holder=None,
                      ref=None, key=None):
        """U (the fields may be overridden: tests)."""
        keys = self.link.keys if key is None else L.Keys(key, self.link.pad_id)
        nonce = self.nonce if nonce is None else nonce
        body = (bytes((self.op if op is None else op,)) + (pad_id or self.link.pad_id)
                + (card or self.card) + nonce
                + keys.holder_hash(nonce, self.holder_id if holder is None else holder)
                + (self.ref if ref is None else ref))
        body = bytes((L.AUTH,)) + body
        return body + L.cmac(keys.message(L.TO_PAD, L.AUTH), body)

    def authorise(self, u=None):
        u = self.authorisation() if u is None else u
        self.link.send(u)
        self.prev = u[-16:]
        return u

    def wait_challenge(self, wait):
        p = self._next(wait + 15.0, CHALLENGE)
        self.challenge, self.e_new = p[2:10], p[10:-16]
        return p

    def command(self):
        head = HEADS[self.op]
        data = head + bytes((len(self.e_new) + 4,)) + self.e_new
        self.mac = bytes(self.keys.command_mac(self.ef05, MAC_TYPES[self.op], self.challenge,
                                               data))
        c = self.link.window_message(L.COMMAND, self.mac, self.prev)
        self.link.send(c)
        self.prev = c[-16:]

    def wait_answer(self):
        p = self._next(60.0, ANSWER)
        sw, data = p[2] << 8 | p[3], p[4:-16]
        done, inner = False, sw
        if sw == 0x9000 and len(data) == 10 and data[0:2] == b"\x99\x02" \
                and data[4:6] == b"\x8e\x04":
            want = self.keys.command_mac(self.ef05, MAC_TYPES[self.op], self.challenge,
                                         self.mac + data[:4])
            if L.ct_equal(bytes(want), data[6:10]):
                inner = data[2] << 8 | data[3]
                done = inner == 0x9000
                self.answer = "authentic"
            else:
                self.answer = "forged"
        self.sw = "%04X" % inner
        return done, inner

    def verdict(self, done, sw):
        v = self.link.window_message(L.VERDICT, bytes((1 if done else 0, sw >> 8, sw & 0xFF)),
                                     self.prev)
        self.link.send(v)
        self.prev = v[-16:]

    def wait_end(self):
        p = self._next(30.0, END)
        return p


def run(port, link_key, op, ref, holder_id, keys, progress=None, wait=300.0, pad_id=None):
    """Unlock ("unlock") or reset ("reset") the card the holder inserts at the pad on
    ``port`` (a serial port or pty path, or an open stream), for the clerk check ``ref``
    (6 bytes) of the holder ``holder_id`` (the ID number as typed: the card's EF06 must
    match it; only a keyed hash bound to the pad's fresh nonce goes to the pad).
    Returns an Outcome; raises WindowRefused (or the link's LinkError) with one line."""
    if op not in OPS:
        raise ValueError("op must be unlock or reset")
    ref = bytes(ref)
    if len(ref) != 6:
        raise ValueError("the check's reference is 6 bytes")
    if len(holder_id) != 18:
        raise WindowRefused("the holder's ID number must be the card's 18 characters")
    stream, mine = port, False
    if isinstance(port, (str, bytes)) or hasattr(port, "__fspath__"):
        stream, mine = L.open_port(str(port)), True
    w = link = None
    try:
        link = L.PadLink(stream, link_key, pad_id)
        w = WindowOp(link, OPS[op], ref, holder_id, keys, progress)
        w.start(wait)
        w.wait_card(wait)
        try:
            keys.check_card(w.card, w.ef05)
        except Exception:
            w.abort()  # the pad spends nothing and says "Not authorised"
            raise
        w.authorise()
        w.wait_challenge(wait)
        w.command()
        done, sw = w.wait_answer()
        w.verdict(done, sw)
        w.wait_end()
        result = ("unlocked" if op == "unlock" else "reset") if done else (
            "card answer forged" if w.answer == "forged" else "card refused (SW %s)" % w.sw)
        return Outcome(op, ref.hex(), link.pad_id.hex(), w.card.hex(), done, result, w.sw)
    except WindowRefused as e:
        e.pad, e.card = getattr(link, "pad_id", None), w and w.card
        raise
    except L.LinkError as e:
        what = "the pad refused: %s" if isinstance(e, L.PadRefused) else "window link lost: %s"
        raise WindowRefused(what % e, getattr(link, "pad_id", None), w and w.card) from None
    finally:
        if mine:
            try:
                stream.close()
            except OSError:
                pass


def new_ref():
    """A clerk check's reference: 6 random bytes."""
    return os.urandom(6)


__all__ = ["run", "Outcome", "WindowRefused", "WindowOp", "OPS", "new_ref"]
