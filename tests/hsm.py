"""A SoftHSM2 token in a temporary folder for the PKCS#11 tests (TEST MATERIAL).

``make test`` installs softhsm2 (apt-get, as root) when it is missing; in CI a missing
module is a failure, never a skip.
"""
import os
import subprocess
from pathlib import Path

import pytest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"


def need_softhsm():
    if Path(MODULE).is_file():
        return
    msg = "SoftHSM2 missing (%s): apt-get install softhsm2, as `make test` does" % MODULE
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


_DIR = None


def make_token(folder, label=None):
    """A fresh initialised token; returns (module, label, pin).

    The PKCS#11 library reads SOFTHSM2_CONF once per process, so the first call points it
    at a token folder under ``folder`` and every token of the process lives there, each
    with a label of its own."""
    global _DIR
    need_softhsm()
    if _DIR is None:
        _DIR = Path(folder)
        tokens = _DIR / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf = _DIR / "softhsm2.conf"
        conf.write_text("directories.tokendir = %s\nobjectstore.backend = file\n"
                        "log.level = ERROR\n" % tokens)
        os.environ["SOFTHSM2_CONF"] = str(conf)
    label = label or "padctl-test-%s" % os.urandom(4).hex()
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                    "--so-pin", "5678", "--pin", PIN], check=True, capture_output=True)
    import pkcs11
    pkcs11.lib(MODULE).reinitialize()  # the loaded library sees the new token
    return (MODULE, label, PIN)
