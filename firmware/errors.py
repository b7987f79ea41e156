# One base error and one subclass per failure; flows just raise them.


class Error(Exception):
    """Base of every firmware error; str() is a message fit for a log."""


class NoCard(Error):
    """No card in the slot, or it gave no ATR."""


class CardRemoved(Error):
    """The card was pulled (or powered off) in the middle of an exchange."""


class Timeout(Error):
    """No byte within the waiting time."""


class ProtocolError(Error):
    """A malformed ATR, procedure byte, status word or answer."""


class StatusError(Error):
    """The card or PSAM answered a status word the caller did not accept."""

    def __init__(self, sw, what=""):
        super().__init__("%s SW %04X" % (what, sw))
        self.sw = sw


class SecurityError(Error):
    """A MAC, a cryptogram or an authentication did not check out."""


class Refused(Error):
    """The card is not one this pad may serve (wrong region, keys, application)."""


class PsamError(Error):
    """The PSAM is absent, silent or answered wrongly: the pad cannot work until it is back."""
