"""The key service's errors: each a clear one-line message, never a traceback."""


class KeyServiceError(ValueError):
    """Base: a key operation that cannot be done (the message says why)."""


class RegionError(KeyServiceError):
    """A code that is not a GB/T 2260 province, prefecture or city."""


class ScopeError(KeyServiceError):
    """A key or card used outside the region it serves (names both regions)."""


class SealedError(KeyServiceError):
    """A sealed keystore that cannot be opened: wrong passphrase, modified, malformed."""


class TokenError(KeyServiceError):
    """A PKCS#11 module or token that is missing, not initialised, or refuses."""


class CardError(KeyServiceError):
    """An article-23 card that is locked, the wrong role, or refuses its PIN."""


class AuditError(KeyServiceError):
    """An audit log whose hash chain does not verify."""
