# One base error and one subclass per failure; flows just raise them.
# code: why a card exchange failed, journaled by the app after its card-I/O reason
# (docs/protocol.md section 6): a class default, or given where it is raised.
from micropython import const

TIMEOUT = const(1)  # silent card, or a wait cap hit (command or card session)
BAD_TCK = const(2)  # the ATR's check byte is wrong
NO_T0 = const(3)  # the card does not speak T=0 after reset (T=1 only, specific mode)
INVERSE = const(4)  # inverse convention (TS 3F)
BAD_ATR = const(5)  # any other malformed ATR
BAD_ANSWER = const(6)  # a malformed procedure byte or answer
REMOVED = const(7)  # the card was pulled, or powered off
STATUS = const(8)  # a status word the flow did not accept


class Error(Exception):
    """Base of every firmware error; str() is a message fit for a log; code (above) says
    which card fault it is (0: none of those)."""

    code = 0

    def __init__(self, msg="", code=0):
        super().__init__(msg)
        if code:
            self.code = code


class NoCard(Error):
    """No card in the slot, or it gave no ATR."""


class CardRemoved(Error):
    """The card was pulled (or powered off) in the middle of an exchange."""

    code = REMOVED


class Timeout(Error):
    """No byte within the waiting time, or a wait cap hit."""

    code = TIMEOUT


class ProtocolError(Error):
    """A malformed ATR, procedure byte, status word or answer."""

    code = BAD_ANSWER


class StatusError(Error):
    """The card or PSAM answered a status word the caller did not accept."""

    code = STATUS

    def __init__(self, sw, what=""):
        super().__init__("%s SW %04X" % (what, sw))
        self.sw = sw


class SecurityError(Error):
    """A MAC, a cryptogram or an authentication did not check out."""


class Refused(Error):
    """The card is not one this pad may serve (wrong region, keys, application)."""


class PsamError(Error):
    """The PSAM is absent, silent or answered wrongly: the pad cannot work until it is back."""
