# One base error and a subclass per failure the flows catch by class; flows just raise them.
# code: which card fault an error is, journaled by the app after its card-I/O reason
# (docs/protocol.md sections 4a and 6): a class default below, or fault()'s. Plain ints,
# no names: this module is resident, and a name costs RAM.


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


class StatusError(Error):
    """The card or PSAM answered a status word the caller did not accept."""

    code = 8  # a status word the flow did not accept

    def __init__(self, sw, what=""):
        super().__init__("%s SW %04X" % (what, sw))
        self.sw = sw


class SecurityError(Error):
    """A MAC, a cryptogram or an authentication did not check out."""


# Some faults are Errors with a code of their own, not classes (a class costs about 290
# bytes of RAM on the 64-bit unix port, measured): 2-6, a protocol fault: a malformed ATR
# (2 bad TCK, 3 no T=0, 4 inverse convention, 5 anything else: atr.py) or a malformed
# answer (6: procedure byte, length, 61xx rounds; t0.py, card.py, secure.py); code 9,
# refused: the card is not one this pad may serve (wrong region, keys, application); code
# 10, the PSAM: absent, silent or answered wrongly (the pad cannot work until it is back).
# Nothing catches a protocol fault by itself; the app tells 9 and 10 apart by the code
# before it journals a card fault's (protocol.md 4a); raised by fault().


def fault(code, msg):
    """An Error with this code (2-6 a protocol fault, 9 refused, 10 the PSAM)."""
    e = Error(msg)
    e.code = code
    return e
