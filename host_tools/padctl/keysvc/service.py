"""The key service: one interface over the token and the sealed software keystore.

A service lives in a folder (its *home*): ``service.json`` (its scope region and the
token it uses, no secret), ``sealed.json`` (the sealed software keystore) and
``audit.log``. 3DES and AES keys go to the token when one is configured, SM4 keys (and
everything when there is no token) to the sealed keystore. Key ids:

    root/<SUITE>/<TT>/<V>              the ministry's roots (generated inside, never out)
    sub/<SUITE>/<TT>/<V>/<REGION>      a level key dispersed for, or imported by, a region
    own/<SUITE>/<TT>/<V>/<REGION>      a region-own key (never serves another region)
    transport/<NAME>                   an AES transport key (wraps keys in transit)
    mother/<SERIAL>                    a key mother card's authentication key

Keys leave only wrapped: under a transport key (``export``), or under a one-time channel
key to the (virtual) device being personalised (``issue_values``). Every operation is in
the audit log, never a key value.
"""
import json
import os
from pathlib import Path

from .. import crypto as C
from . import regions
from .audit import AuditLog
from .backends import DEFAULT_MODULE, Pkcs11Backend, SoftBackend, SoftKey
from .errors import KeyServiceError, ScopeError
from .sealed import SCRYPT_N, SealedStore, write_private

CONFIG_FORMAT = "padctl-keysvc/1"
WRAPPED_FORMAT = "padctl-wrapped/1"
MINISTRY = "000000"
KEY_TYPES = (1, 2, 3, 4, 5, 6, 7)
T_LINK = 7


def kid_root(suite, t, v):
    return "root/%s/%02X/%d" % (C.Suite.parse(suite).label, t, v)


def kid_sub(suite, t, v, region):
    return "sub/%s/%02X/%d/%s" % (C.Suite.parse(suite).label, t, v, region)


def kid_own(suite, t, v, region):
    return "own/%s/%02X/%d/%s" % (C.Suite.parse(suite).label, t, v, region)


def parse_kid(kid):
    """(class, suite label, type, version, region or None) of a root/sub/own id."""
    parts = kid.split("/")
    try:
        if parts[0] in ("root", "sub", "own") and len(parts) == (4 if parts[0] == "root" else 5):
            return (parts[0], parts[1], int(parts[2], 16), int(parts[3]),
                    parts[4] if len(parts) == 5 else None)
    except ValueError:
        pass
    raise KeyServiceError("%r is not a root, sub or own key id" % kid)


def _kind(suite):
    return C.Suite.parse(suite).label


def _d(f):
    return bytes(f) + C.invert(f)


def _factor8(v, what):
    if isinstance(v, str):
        try:
            v = bytes.fromhex(v)
        except ValueError:
            raise KeyServiceError("%s must be 16 hex digits" % what) from None
    if len(v) != 8:
        raise KeyServiceError("%s must be 8 bytes, got %d" % (what, len(v)))
    return bytes(v)


def token_from_env():
    """(module, label, pin) from PADCTL_PKCS11_MODULE / _TOKEN / _PIN, or None."""
    label = os.environ.get("PADCTL_PKCS11_TOKEN")
    if not label:
        return None
    return (os.environ.get("PADCTL_PKCS11_MODULE", DEFAULT_MODULE), label,
            os.environ.get("PADCTL_PKCS11_PIN", ""))


class KeyService:
    def __init__(self, home, config, soft, token, audit):
        self.home = Path(home)
        self.config = config
        self.soft = soft
        self.token = token
        self.audit = audit

    # --- create and open ------------------------------------------------------------
    @classmethod
    def create(cls, home, passphrase, region=MINISTRY, token=None, scrypt_n=SCRYPT_N,
               who=None):
        """A new service in ``home`` for ``region`` (MINISTRY, or a department's code);
        ``token`` (module, label, pin) puts the 3DES and AES keys in that token."""
        home = Path(home)
        if (home / "service.json").exists():
            raise KeyServiceError("a key service exists in %s" % home)
        if region != MINISTRY:
            region = regions.check(region)[0]
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        tok = None
        if token is not None:
            tok = Pkcs11Backend(*token)
        store = SealedStore.create(home / "sealed.json", passphrase, n=scrypt_n)
        config = {"format": CONFIG_FORMAT, "region": region,
                  "token": None if token is None else {"module": str(token[0]),
                                                       "label": token[1]}}
        write_private(home / "service.json", json.dumps(config, indent=1).encode() + b"\n")
        svc = cls(home, config, SoftBackend(store), tok, AuditLog(home / "audit.log", who))
        svc.audit.append("create", region=region,
                         detail="token %s" % (token[1] if token else "none"))
        return svc

    @classmethod
    def open(cls, home, passphrase, token_pin=None, who=None, master_key=None):
        home = Path(home)
        try:
            config = json.loads((home / "service.json").read_text())
            if config.get("format") != CONFIG_FORMAT:
                raise ValueError
        except FileNotFoundError:
            raise KeyServiceError("no key service in %s (padctl keys init --home %s)"
                                  % (home, home)) from None
        except (ValueError, OSError):
            raise KeyServiceError("%s/service.json is not a key service's" % home) from None
        store = SealedStore.open(home / "sealed.json", passphrase, master_key=master_key)
        tok = None
        if config.get("token"):
            t = config["token"]
            tok = Pkcs11Backend(t["module"], t["label"], token_pin or "")
        return cls(home, config, SoftBackend(store), tok, AuditLog(home / "audit.log", who))

    def close(self):
        if self.token is not None:
            self.token.close()

    @property
    def region(self):
        return self.config["region"]

    def backend_for(self, kind):
        if self.token is not None and kind in self.token.kinds:
            return self.token
        return self.soft

    def _be(self, key):
        """The back end holding a handle."""
        return self.soft if isinstance(key, SoftKey) else self.token

    def _scope(self, region, what):
        """ScopeError unless this service's region covers ``region``."""
        if self.region != MINISTRY and not regions.covers(self.region, region):
            raise ScopeError("%s: region %s is outside this service's region %s"
                             % (what, region, self.region))

    # --- roots ----------------------------------------------------------------------
    def init(self, suites=("SM4", "3DES"), types=KEY_TYPES, versions=(1,)):
        """Generate the roots that are missing (ministry only); returns the new ids."""
        if self.region != MINISTRY:
            raise ScopeError("roots are the ministry's: this service is region %s"
                             % self.region)
        made = []
        with self.soft.batch():
            self._init(suites, types, versions, made)
        return made

    def _init(self, suites, types, versions, made):
        for s in suites:
            kind = _kind(s)
            be = self.backend_for(kind)
            for t in types:
                if t not in KEY_TYPES:
                    raise KeyServiceError("unknown key type %r" % (t,))
                for v in versions:
                    if not 0 <= v <= 255:
                        raise KeyServiceError("key version out of range: %r" % (v,))
                    kid = kid_root(s, t, v)
                    if be.has(kid):
                        continue
                    be.generate(kid, kind, {"type": t, "version": v})
                    self.audit.append("generate", key=kid, suite=kind, type=t, version=v,
                                      region=MINISTRY, detail="root, in %s" % be.name)
                    made.append(kid)

    def key_ids(self):
        out = []
        for be in ([self.token] if self.token else []) + [self.soft]:
            out.extend((k, be.name) for k in be.ids())
        return sorted(out)

    def versions(self, suite, t):
        kind = _kind(suite)
        vs = set()
        for k, _ in self.key_ids():
            try:
                cls_, s, tt, v, _r = parse_kid(k)
            except KeyServiceError:
                continue
            if s == kind and tt == t and cls_ in ("root", "sub"):
                vs.add(v)
        return sorted(vs)

    def _get(self, kid, kind):
        return self.backend_for(kind).get(kid)

    # --- the level chain --------------------------------------------------------------
    def _base(self, suite, t, v, region, level):
        """(handle, its level) of the held key nearest above ``region`` at ``level``."""
        kind = _kind(suite)
        be = self.backend_for(kind)
        for lvl in range(level, 0, -1):
            kid = kid_sub(suite, t, v, regions.at(region, lvl))
            if be.has(kid):
                return be.get(kid), lvl
        kid = kid_root(suite, t, v)
        if be.has(kid):
            return be.get(kid), 0
        raise KeyServiceError("no %s key of type %02X version %d for region %s in this "
                              "service (neither the root nor a sub-key above it)"
                              % (kind, t, v, region))

    def level_handle(self, suite, t, v, region, level, issue=False):
        """K_level for a region (1 province, 2 prefecture, 3 city) as a back-end handle."""
        region = regions.check(region)[0]
        if level not in (1, 2, 3):
            raise KeyServiceError("level must be 1, 2 or 3")
        self._scope(region, "dispersion")
        be = self.backend_for(_kind(suite))
        key, lvl = self._base(suite, t, v, region, level)
        for n in range(lvl + 1, level + 1):
            key = be.derive_ecb(key, _d(regions.factor(region, n)),
                                issue=issue and n == level)
        if issue and lvl == level:  # held as is: re-derive nothing, wrap the held key
            pass
        return key

    def card_handle(self, suite, t, v, region, serial, issue=False):
        """Kc = D(K3, serial) (or Kp = D(K3, pad id))."""
        be = self.backend_for(_kind(suite))
        k3 = self.level_handle(suite, t, v, region, 3)
        return be.derive_ecb(k3, _d(_factor8(serial, "card serial")), issue=issue)

    def disperse(self, region, suites=None, types=KEY_TYPES, versions=None):
        """Store the sub-keys of ``region`` (at its own level) for every held purpose."""
        region, level = regions.check(region)
        self._scope(region, "disperse")
        made = []
        for s in suites or ("SM4", "3DES"):
            kind = _kind(s)
            be = self.backend_for(kind)
            for t in types:
                for v in (versions or self.versions(s, t)):
                    kid = kid_sub(s, t, v, region)
                    if be.has(kid):
                        continue
                    try:
                        base, lvl = self._base(s, t, v, region, level)
                    except KeyServiceError:
                        continue
                    if lvl >= level:
                        continue
                    key = base
                    for n in range(lvl + 1, level + 1):
                        key = be.derive_ecb(key, _d(regions.factor(region, n)),
                                            kid=kid if n == level else None,
                                            meta={"type": t, "version": v, "region": region})
                    self.audit.append("disperse", key=kid, suite=kind, type=t, version=v,
                                      region=region, detail="level %d from %s"
                                      % (level, base.kid))
                    made.append((kid, self.kcv(key)))
        if not made:
            raise KeyServiceError("nothing to disperse for %s: no root or sub-key above it "
                                  "(or its sub-keys exist)" % region)
        return made

    def kcv(self, key):
        """Key check value: the first 3 bytes of ECB_K(zeros), hex (not a key value)."""
        be = self._be(key)
        return be.encrypt(key, bytes(16 if key.kind != "3DES" else 8))[:3].hex().upper()

    # --- region-own keys ------------------------------------------------------------------
    def generate_own(self, region, suite, t, v=1):
        region = regions.check(region)[0]
        if self.region != region:
            raise ScopeError("a region-own key of %s is generated by that region's service, "
                             "not by %s" % (region, self.region))
        kind = _kind(suite)
        kid = kid_own(suite, t, v, region)
        self.backend_for(kind).generate(kid, kind, {"type": t, "version": v, "region": region})
        self.audit.append("generate", key=kid, suite=kind, type=t, version=v, region=region,
                          detail="region-own")
        return kid

    def own_handle(self, kid, region):
        cls_, s, t, v, owner = parse_kid(kid)
        region = regions.check(region)[0]
        if cls_ != "own":
            raise KeyServiceError("%s is not a region-own key" % kid)
        if owner != region:
            raise ScopeError("region-own key %s belongs to region %s; it never serves region %s"
                             % (kid, owner, region))
        return self._get(kid, s)

    def own_encrypt(self, kid, region, data):
        """ECB encryption under a region-own key, for that region only."""
        key = self.own_handle(kid, region)
        self.audit.append("use", key=kid, region=region, detail="encrypt %d bytes" % len(data))
        return self._be(key).encrypt(key, data)

    # --- transport keys, export, import ---------------------------------------------------
    def new_transport(self, name):
        """A new AES transport key; with a token it is generated there and a copy goes to
        the sealed keystore through the channel (SM4 keys are wrapped there)."""
        kid = "transport/%s" % name
        be = self.backend_for("AES")
        key = be.generate(kid, "AES", {"purpose": "transport"}, extractable=True)
        self.audit.append("generate", key=kid, suite="AES", detail="transport key")
        if be is not self.soft:
            self.add_transport(name, self.issue_values({0: key}, "transport key copy",
                                                       key=kid)[0], backends=(self.soft,))
        return kid

    def add_transport(self, name, value, backends=None):
        """Load a transport key (from a transport key card) into the back ends."""
        kid = "transport/%s" % name
        for be in backends or ({self.soft, self.backend_for("AES")}):
            if be is self.soft:
                be._put(kid, "AES", value, {"purpose": "transport"})
            else:
                be.import_transport(kid, value)
        self.audit.append("import", key=kid, suite="AES", detail="transport key from its card")
        return kid

    def transport(self, name, be=None):
        if not name:
            raise KeyServiceError("keys leave the service only wrapped under a transport key: "
                                  "give --transport NAME")
        kid = "transport/%s" % name
        be = be or self.backend_for("AES")
        if not be.has(kid):
            raise KeyServiceError("no transport key %s in this service (import the "
                                  "department's transport key card first)" % kid)
        return be.get(kid)

    def export(self, kid, transport_name):
        """{"format", "key", "kind", "transport", "wrapped", "kcv"}: kid wrapped under the
        transport key."""
        if kid.startswith("root/"):
            raise KeyServiceError("roots never leave the service")
        cls_, s, t, v, region = parse_kid(kid)
        be = self.backend_for(s)
        tk = self.transport(transport_name, be)
        key = self._get(kid, s)
        blob = be.wrap(key, tk)
        self.audit.append("export", key=kid, suite=s, type=t, version=v, region=region,
                          detail="wrapped under %s" % tk.kid)
        return {"format": WRAPPED_FORMAT, "key": kid, "kind": s, "transport": tk.kid,
                "wrapped": blob.hex().upper(), "kcv": self.kcv(key)}

    def import_(self, doc, transport_name):
        if not isinstance(doc, dict) or doc.get("format") != WRAPPED_FORMAT:
            raise KeyServiceError("not a padctl wrapped key (format %s expected)"
                                  % WRAPPED_FORMAT)
        try:
            kid, kind, blob = doc["key"], doc["kind"], bytes.fromhex(doc["wrapped"])
        except (KeyError, ValueError, TypeError):
            raise KeyServiceError("wrapped key file malformed") from None
        cls_, s, t, v, region = parse_kid(kid)
        if cls_ != "sub":
            raise KeyServiceError("only sub-keys are imported, not %s" % kid)
        self._scope(region, "import")
        be = self.backend_for(kind)
        tk = self.transport(transport_name, be)
        key = be.unwrap(tk, blob, kind, kid=kid, meta={"type": t, "version": v, "region": region})
        if doc.get("kcv") and self.kcv(key) != doc["kcv"]:
            be.delete(kid)
            raise KeyServiceError("imported %s does not match its check value" % kid)
        self.audit.append("import", key=kid, suite=kind, type=t, version=v, region=region,
                          detail="unwrapped under %s" % tk.kid)
        return kid

    # --- issue: values for the device being personalised -----------------------------------
    def issue_values(self, handles, why, **audit):
        """The values of derived keys, each wrapped under a one-time channel key and
        unwrapped at the (virtual) device's end: what a personalisation machine does."""
        from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
        out = {}
        for name, key in handles.items():
            be = self._be(key)
            ch, chv = be.channel()
            out[name] = aes_key_unwrap(chv, be.wrap(key, ch))
        self.audit.append("issue", detail=why, **audit)
        return out

    def card_keys(self, suite, versions, region, serial, types=(1, 2, 3, 4, 5, 6), why="card"):
        """{type: 16-byte key} of a card: Kc = D(K3, serial) per purpose."""
        self._scope(region, "card keys")
        hs = {t: self.card_handle(suite, t, versions[t], region, serial, issue=True)
              for t in types}
        return self.issue_values(hs, why, suite=_kind(suite), region=region,
                                 key="card %s" % _factor8(serial, "serial").hex().upper())

    def level_keys(self, suite, region, level, types=(1, 2, 3, 4), why="psam"):
        """{(type, version): K_level} for a PSAM issued at ``level``."""
        hs = {}
        for t in types:
            for v in self.versions(suite, t):
                hs[(t, v)] = self.level_handle(suite, t, v, region, level, issue=True)
        return self.issue_values(hs, why, suite=_kind(suite), region=regions.at(region, level))

    def pad_link_key(self, region, pad_id, version=1, why="pad link key"):
        """The pad's link key: the SM4 chain of the link root (07), dispersed by the pad id."""
        h = self.card_handle("SM4", T_LINK, version, region, _factor8(pad_id, "pad id"),
                             issue=True)
        return self.issue_values({0: h}, why, suite="SM4", type=T_LINK, version=version,
                                 region=region, key="pad %s" % _factor8(pad_id, "pad id")
                                 .hex().upper())[0]

    # --- the window's secure messaging, computed inside -----------------------------------
    def command_mac(self, suite, t, v, region, serial, challenge, iv, data):
        """The 4-byte MAC under SK = D(Kc, R) of protocol.md section 2, computed with the
        back end's ECB only (3DES MAC algorithm 3: single DES K1 is the 3DES key K1||K1 =
        ECB_Kc(R || R); the last block under SK = K1||K2)."""
        kind = _kind(suite)
        be = self.backend_for(kind)
        kc = self.card_handle(suite, t, v, region, serial)
        r = _factor8(challenge, "challenge")
        sk = be.derive_ecb(kc, _d(r))
        bs = C.Suite.parse(suite).block
        blocks = C.pad80(data, bs)
        h = bytes(iv)
        if kind == "SM4":
            for i in range(0, len(blocks), bs):
                h = be.encrypt(sk, C._xor(h, blocks[i:i + bs]))
            return h[:4]
        k1 = be.derive_ecb(kc, r + r)
        for i in range(0, len(blocks) - bs, bs):
            h = be.encrypt(k1, C._xor(h, blocks[i:i + bs]))
        return be.encrypt(sk, C._xor(h, blocks[-bs:]))[:4]
