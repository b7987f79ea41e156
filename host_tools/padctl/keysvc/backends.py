"""The key service's two back ends, one set of primitives (protocol.md section 12).

Every dispersion of both suites is one primitive: ``derive_ecb(K, D)`` makes the key whose
value is ``ECB_K(D)`` for a 16-byte D (``D(K, F)`` is ``derive_ecb(K, F || ~F)``), and
MACs are built from ``encrypt`` (ECB). Handles are opaque: a token object, or a key held
in the sealed store's memory. Keys leave a back end only through ``wrap`` (RFC 3394 AES
key wrap under a transport key).

- ``SoftBackend``: the sealed software keystore (SM4, 3DES, AES), keys in memory once
  opened with the passphrase.
- ``Pkcs11Backend``: a PKCS#11 token (SoftHSM2 stands in for the encryption machine):
  3DES and AES; roots generated inside, sensitive and not extractable; dispersion by
  ``DES3_ECB_ENCRYPT_DATA``; no SM4 (the token has no mechanism for it).
"""
import ctypes
import os
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .. import crypto as C
from .errors import KeyServiceError, TokenError

KINDS = ("SM4", "3DES", "AES")


class SoftKey:
    __slots__ = ("kind", "value", "kid")

    def __init__(self, kind, value, kid=None):
        self.kind, self.value, self.kid = kind, bytes(value), kid

    def __repr__(self):  # never the value
        return "<SoftKey %s %s>" % (self.kind, self.kid or "(derived)")


def _ecb(kind, key, data):
    if kind == "SM4":
        return C.sm4_encrypt(key, data)
    if kind == "3DES":
        return C.des3_encrypt(key, data)
    return C.aes_encrypt(key, data)


class SoftBackend:
    """Keys of the sealed store (``store`` a ``SealedStore``)."""

    name = "software"
    kinds = frozenset(KINDS)

    def __init__(self, store):
        self.store = store
        self._defer = 0

    def batch(self):
        """A context in which new keys are saved once, at its end (or not at all on error)."""
        backend = self

        class _Batch:
            def __enter__(self):
                backend._defer += 1

            def __exit__(self, exc, *rest):
                backend._defer -= 1
                if exc is None and not backend._defer:
                    backend.store.save()
        return _Batch()

    def ids(self):
        return sorted(self.store.keys)

    def has(self, kid):
        return kid in self.store.keys

    def meta(self, kid):
        e = self.store.keys[kid]
        return {k: v for k, v in e.items() if k != "value"}

    def get(self, kid):
        e = self.store.keys.get(kid)
        if e is None:
            raise KeyServiceError("no key %s in the software keystore" % kid)
        return SoftKey(e["kind"], e["value"], kid)

    def _put(self, kid, kind, value, meta):
        if kid in self.store.keys:
            raise KeyServiceError("key %s exists; refusing to replace it" % kid)
        self.store.keys[kid] = dict(meta or {}, kind=kind, value=bytes(value))
        if not self._defer:
            self.store.save()
        return SoftKey(kind, value, kid)

    def generate(self, kid, kind, meta=None, extractable=False):
        return self._put(kid, kind, os.urandom(16), meta)

    def derive_ecb(self, key, data, kid=None, meta=None, issue=False):
        value = _ecb(key.kind, key.value, data)
        if kid:
            return self._put(kid, key.kind, value, meta)
        return SoftKey(key.kind, value)

    def encrypt(self, key, data):
        return _ecb(key.kind, key.value, data)

    def wrap(self, key, transport):
        if transport.kind != "AES":
            raise KeyServiceError("a transport key must be AES")
        return aes_key_wrap(transport.value, key.value)

    def unwrap(self, transport, blob, kind, kid=None, meta=None):
        try:
            value = aes_key_unwrap(transport.value, bytes(blob))
        except (InvalidUnwrap, ValueError):
            raise KeyServiceError("the wrapped key does not unwrap under transport key %s "
                                  "(another transport key, or the blob was modified)"
                                  % transport.kid) from None
        if len(value) != 16:
            raise KeyServiceError("the wrapped key is %d bytes, not 16" % len(value))
        if kid:
            return self._put(kid, kind, value, meta)
        return SoftKey(kind, value)

    def delete(self, kid):
        self.store.keys.pop(kid, None)
        self.store.save()

    def channel(self):
        """A one-time AES key for the personalisation channel to a (virtual) device."""
        value = os.urandom(16)
        return SoftKey("AES", value, "channel"), value


# --- PKCS#11 ------------------------------------------------------------------------------

class _KDSD(ctypes.Structure):  # CK_KEY_DERIVATION_STRING_DATA
    _fields_ = [("pData", ctypes.c_void_p), ("ulLen", ctypes.c_ulong)]


class P11Key:
    __slots__ = ("kind", "obj", "kid")

    def __init__(self, kind, obj, kid=None):
        self.kind, self.obj, self.kid = kind, obj, kid

    def __repr__(self):
        return "<P11Key %s %s>" % (self.kind, self.kid or "(session object)")


DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class Pkcs11Backend:
    """Keys in a PKCS#11 token, looked up by CKA_LABEL (the key id)."""

    name = "pkcs11"
    kinds = frozenset(("3DES", "AES"))

    def __init__(self, module, token_label, pin):
        try:
            import pkcs11
        except ImportError:
            raise TokenError("python-pkcs11 is not installed (pip install python-pkcs11)") \
                from None
        self.p = pkcs11
        if not Path(module).is_file():
            raise TokenError("no PKCS#11 module at %s (apt-get install softhsm2, or the HSM "
                             "vendor's module)" % module)
        try:
            lib = pkcs11.lib(str(module))
        except Exception as e:  # the loader's own error types vary
            raise TokenError("cannot load PKCS#11 module %s: %s" % (module, e)) from None
        try:
            self.token = lib.get_token(token_label=token_label)
        except pkcs11.exceptions.NoSuchToken:
            raise TokenError("no initialised token labelled %r in %s (softhsm2-util "
                             "--init-token --free --label %s ...)"
                             % (token_label, module, token_label)) from None
        except pkcs11.exceptions.PKCS11Error as e:
            raise TokenError("token %r: %s" % (token_label, type(e).__name__)) from None
        try:
            self.session = self.token.open(user_pin=pin, rw=True)
        except pkcs11.exceptions.PinIncorrect:
            raise TokenError("token %r refused the user PIN" % token_label) from None
        except pkcs11.exceptions.UserAlreadyLoggedIn:  # another session of this process
            self.session = self.token.open(rw=True)
        except pkcs11.exceptions.PKCS11Error as e:
            raise TokenError("cannot open token %r: %s" % (token_label, type(e).__name__)) \
                from None
        self.label = token_label

    def close(self):
        self.session.close()

    def _type(self, kind):
        KT = self.p.KeyType
        if kind == "3DES":
            return KT.DES2
        if kind == "AES":
            return KT.AES
        raise KeyServiceError("the token has no %s mechanism: %s keys live in the sealed "
                              "software keystore" % (kind, kind))

    def _find(self, kid):
        objs = list(self.session.get_objects({self.p.Attribute.LABEL: kid,
                                              self.p.Attribute.CLASS:
                                              self.p.ObjectClass.SECRET_KEY}))
        return objs[0] if objs else None

    def ids(self):
        A = self.p.Attribute
        return sorted(o[A.LABEL] for o in self.session.get_objects(
            {A.CLASS: self.p.ObjectClass.SECRET_KEY}) if o[A.LABEL])

    def has(self, kid):
        return self._find(kid) is not None

    def meta(self, kid):
        o = self._find(kid)
        kt = o[self.p.Attribute.KEY_TYPE]
        return {"kind": "AES" if kt == self.p.KeyType.AES else "3DES"}

    def get(self, kid):
        o = self._find(kid)
        if o is None:
            raise KeyServiceError("no key %s in token %r" % (kid, self.label))
        return P11Key(self.meta(kid)["kind"], o, kid)

    def _caps(self, kind):
        MF = self.p.MechanismFlag
        caps = MF.ENCRYPT | MF.DERIVE
        if kind == "AES":
            caps |= MF.WRAP | MF.UNWRAP | MF.DECRYPT
        return caps

    def generate(self, kid, kind, meta=None, extractable=False):
        """A token object generated inside: sensitive; extractable (only ever wrapped) for
        transport keys when asked, never for roots."""
        if self.has(kid):
            raise KeyServiceError("key %s exists in the token; refusing to replace it" % kid)
        A = self.p.Attribute
        kw = {"key_length": 128} if kind == "AES" else {}
        try:
            o = self.session.generate_key(self._type(kind), store=True, label=kid,
                                          capabilities=self._caps(kind),
                                          template={A.SENSITIVE: True,
                                                    A.EXTRACTABLE: bool(extractable)}, **kw)
        except self.p.exceptions.PKCS11Error as e:
            raise TokenError("the token refused to generate %s: %s" % (kid, type(e).__name__)) \
                from None
        return P11Key(kind, o, kid)

    def derive_ecb(self, key, data, kid=None, meta=None, issue=False):
        """``ECB_K(data)`` as a new key (DES3_ECB_ENCRYPT_DATA), sensitive, wrappable. An
        ``issue`` key (one that leaves wrapped for a card) is derived as GENERIC_SECRET so
        its bytes are exact (a DES2 derive forces odd parity)."""
        if key.kind != "3DES":
            raise KeyServiceError("the token derives 3DES keys only")
        P, A = self.p, self.p.Attribute
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        param = bytes(_KDSD(ctypes.addressof(buf), len(data)))
        ktype = P.KeyType.GENERIC_SECRET if issue else P.KeyType.DES2
        tmpl = {A.SENSITIVE: True, A.EXTRACTABLE: True}
        if not issue:
            tmpl[A.VALUE_LEN] = P.DEFAULT  # SoftHSM refuses VALUE_LEN on DES2 derives
        try:
            o = key.obj.derive_key(ktype, 128, label=kid, store=bool(kid),
                                   capabilities=(P.MechanismFlag.ENCRYPT | P.MechanismFlag.DERIVE
                                                 if not issue else 0),
                                   mechanism=P.Mechanism.DES3_ECB_ENCRYPT_DATA,
                                   mechanism_param=param, template=tmpl)
        except P.exceptions.PKCS11Error as e:
            raise TokenError("the token refused a derive: %s" % type(e).__name__) from None
        finally:
            del buf
        return P11Key("3DES", o, kid)

    def encrypt(self, key, data):
        M = self.p.Mechanism
        mech = M.DES3_ECB if key.kind == "3DES" else M.AES_ECB
        try:
            return bytes(key.obj.encrypt(bytes(data), mechanism=mech))
        except self.p.exceptions.PKCS11Error as e:
            raise TokenError("the token refused to encrypt: %s" % type(e).__name__) from None

    def wrap(self, key, transport):
        if transport.kind != "AES":
            raise KeyServiceError("a transport key must be AES (the token cannot wrap "
                                  "under 3DES)")
        try:
            return bytes(transport.obj.wrap_key(key.obj, mechanism=self.p.Mechanism.AES_KEY_WRAP))
        except self.p.exceptions.PKCS11Error as e:
            raise TokenError("the token refused to wrap: %s" % type(e).__name__) from None

    def unwrap(self, transport, blob, kind, kid=None, meta=None):
        P, A = self.p, self.p.Attribute
        if kid and self.has(kid):
            raise KeyServiceError("key %s exists in the token; refusing to replace it" % kid)
        try:
            o = transport.obj.unwrap_key(P.ObjectClass.SECRET_KEY, self._type(kind), bytes(blob),
                                         label=kid, store=bool(kid),
                                         mechanism=P.Mechanism.AES_KEY_WRAP,
                                         capabilities=self._caps(kind),
                                         template={A.SENSITIVE: True, A.EXTRACTABLE: True})
        except P.exceptions.PKCS11Error:
            raise KeyServiceError("the wrapped key does not unwrap under transport key %s "
                                  "(another transport key, or the blob was modified)"
                                  % transport.kid) from None
        return P11Key(kind, o, kid)

    def delete(self, kid):
        o = self._find(kid)
        if o is not None:
            o.destroy()

    def import_transport(self, kid, value):
        """A transport key from its transport key card: sensitive, never extractable."""
        P, A = self.p, self.p.Attribute
        if self.has(kid):
            raise KeyServiceError("key %s exists in the token; refusing to replace it" % kid)
        self.session.create_object({
            A.CLASS: P.ObjectClass.SECRET_KEY, A.KEY_TYPE: P.KeyType.AES, A.VALUE: bytes(value),
            A.LABEL: kid, A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True,
            A.EXTRACTABLE: False, A.WRAP: True, A.UNWRAP: True, A.ENCRYPT: True,
            A.DECRYPT: True})

    def channel(self):
        """A one-time AES session object for the personalisation channel to a device: the
        only key whose value the token hands out (it wraps, never is a stored key)."""
        A = self.p.Attribute
        o = self.session.generate_key(self.p.KeyType.AES, 128, store=False,
                                      capabilities=self.p.MechanismFlag.WRAP,
                                      template={A.SENSITIVE: False, A.EXTRACTABLE: True})
        return P11Key("AES", o, "channel"), bytes(o[A.VALUE])
