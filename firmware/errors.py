# One base error and a subclass per failure the flows catch by class; flows just raise them.
# code: which card fault an error is, journaled by the app after its card-I/O reason
# (docs/protocol.md sections 4a and 6). A class default below; atr.py sets the ATR
# faults' own (2 bad TCK, 3 no T=0, 4 inverse convention, 5 malformed ATR) on the
# instance. Plain ints, no names: this module is resident, and a name costs RAM.


class Error(Exception):
    """Base of every firmware error; str() is a message fit for a log; code: the card
    fault (0: none of those)."""

    code = 0


class NoCard(Error):
    """No card in the slot, or it gave no ATR."""


class CardRemoved(Error):
    """The card was pulled (or powered off) in the middle of an exchange."""

    code = 7  # the card was pulled, or powered off


class Timeout(Error):
    """No byte within the waiting time, or a wait cap hit."""

    code = 1  # a silent card, or a wait cap hit


class ProtocolError(Error):
    """A malformed ATR, procedure byte, status word or answer."""

    code = 6  # a malformed answer (or a malformed ATR: atr.py sets 5)


class StatusError(Error):
    """The card or PSAM answered a status word the caller did not accept."""

    code = 8  # a status word the flow did not accept

    def __init__(self, sw, what=""):
        super().__init__("%s SW %04X" % (what, sw))
        self.sw = sw


class SecurityError(Error):
    """A MAC, a cryptogram or an authentication did not check out."""


# Two faults are Errors with a code of their own, not classes (a class costs about 290
# bytes of RAM on the 64-bit unix port, measured): code 9, refused: the card is not one
# this pad may serve (wrong region, keys, application); code 10, the PSAM: absent, silent
# or answered wrongly (the pad cannot work until it is back). The app tells them apart by
# the code before it journals a card fault's (protocol.md 4a); raised by fault().


def fault(code, msg):
    """An Error with this code (9 refused, 10 the PSAM)."""
    e = Error(msg)
    e.code = code
    return e
