"""The ``padctl.keys.Keystore`` interface on the key service, and the window's key file.

``ServiceKeystore(service)`` answers what the simulator, the demo, the tests and the
window flows ask of a ``Keystore`` (level, card, pad and session keys; unblock and reload
MACs through ``padctl.keys``) with keys from the service, issued through its channel and
audited. ``PadLinks`` is the window PC's key file: a sealed keystore holding only its own
pads' link keys (``padctl keys pad-links``), no root and no level key.
"""
import os

from .. import crypto as C
from . import regions
from .errors import KeyServiceError, ScopeError
from .sealed import SealedStore

PAD_LINKS_ROLE = "pad-links"


class ServiceKeystore:
    """A Keystore-compatible view of a KeyService (3DES via the token when it has one)."""

    def __init__(self, service):
        self.service = service
        self.path = service.home

    def versions(self, suite, ktype):
        return self.service.versions(suite, ktype)

    def root(self, suite, ktype, version=1):
        from ..keys import KeystoreError
        raise KeystoreError("roots never leave the key service")

    def level_key(self, suite, ktype, version, region, level):
        if level == 0:
            return self.root(suite, ktype, version)
        h = self.service.level_handle(suite, ktype, version, region, level, issue=True)
        return self.service.issue_values({0: h}, "level key", region=region, type=ktype,
                                         version=version)[0]

    def card_key(self, suite, ktype, version, region, serial):
        h = self.service.card_handle(suite, ktype, version, region, serial, issue=True)
        return self.service.issue_values({0: h}, "card key", region=region, type=ktype,
                                         version=version)[0]

    def pad_key(self, suite, ktype, version, region, pad_id):
        return self.card_key(suite, ktype, version, region, pad_id)

    def pad_link_key(self, region, pad_id, version=1):
        return self.service.pad_link_key(region, pad_id, version)

    def card_keys(self, ident):
        return self.service.card_keys(ident.suite, {t: ident.version(t) for t in range(1, 7)},
                                      ident.region, ident.serial)

    def session_key(self, ident, ktype, challenge):
        return C.disperse(ident.suite, self.card_key(ident.suite, ktype, ident.version(ktype),
                                                     ident.region, ident.serial), challenge)

    def command_mac(self, ident, ktype, challenge, iv, data):
        """The command MAC computed inside the service (padctl.keys.secured_apdu uses it)."""
        self.service.audit.append("mac", type=ktype, region=ident.region,
                                  key="card %s" % ident.serial.hex().upper(),
                                  detail="secure messaging command MAC")
        return self.service.command_mac(ident.suite, ktype, ident.version(ktype), ident.region,
                                        ident.serial, challenge, iv, data)


class PadLinks:
    """A window PC's key file: link keys of its own pads only (sealed, mode 0600)."""

    def __init__(self, store):
        if store.header.get("role") != PAD_LINKS_ROLE:
            raise KeyServiceError("%s is not a pad-links key file" % store.path)
        self.store = store
        self.path = store.path

    @classmethod
    def write(cls, path, passphrase, links, scrypt_n=None):
        """links: {pad id hex: (region, 16-byte key)}."""
        kw = {} if scrypt_n is None else {"n": scrypt_n}
        st = SealedStore.create(path, passphrase, overwrite=True, **kw)
        st.header["role"] = PAD_LINKS_ROLE
        st.keys = {"link/%s" % pad.upper(): {"kind": "SM4", "value": key, "region": region}
                   for pad, (region, key) in links.items()}
        st.save()
        return cls(st)

    @classmethod
    def open(cls, path, passphrase):
        return cls(SealedStore.open(path, passphrase))

    def pads(self):
        return sorted(k.split("/", 1)[1] for k in self.store.keys)

    def pad_link_key(self, region, pad_id, version=1):
        pad = (pad_id.hex() if isinstance(pad_id, (bytes, bytearray)) else str(pad_id)).upper()
        e = self.store.keys.get("link/%s" % pad)
        if e is None:
            raise KeyServiceError("pad %s is not one of this window's pads (%s)"
                                  % (pad, ", ".join(self.pads()) or "none"))
        if region and regions.check(region)[0] != e["region"]:
            raise ScopeError("pad %s is of region %s, not %s" % (pad, e["region"], region))
        return e["value"]


def passphrase_from_env(var="PADCTL_PASSPHRASE"):
    p = os.environ.get(var)
    if not p:
        raise KeyServiceError("set %s (the sealed keystore's passphrase)" % var)
    return p
