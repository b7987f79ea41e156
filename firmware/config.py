# The pad's configuration on the littlefs partition (/flash/config.json), written at
# provisioning. A missing or corrupt file never stops the pad: it runs on defaults.
import json

PATH = "/flash/config.json"

DEFAULTS = {
    "pad_id": "0000000000000000",  # 8 bytes hex, set at provisioning
    "lang": "en",                  # "en" or "zh"
    "pin_timeout_s": 30,
    "pad_limit": 3,                # the pad's own limit; the card's 63Cx rules if lower
    "card_limit": 3,               # the cards' limit in this region (63Cx at full)
    "cmd_cap_s": 30,               # the most one card (or PSAM) command may take
    "session_cap_s": 60,           # the most a card may take from activation to PIN entry
}


def load(path=PATH):
    cfg = dict(DEFAULTS)
    problem = None
    try:
        with open(path) as f:
            got = json.load(f)
        for k in DEFAULTS:
            if k in got and type(got[k]) is type(DEFAULTS[k]):
                cfg[k] = got[k]
        for k in got:
            if k not in cfg:
                cfg[k] = got[k]
    except OSError:
        problem = "no config"
    except ValueError:
        problem = "config corrupt"
    for k in ("pad_limit", "card_limit"):  # (card_limit: the cards' maximum, which a plain
        if not 1 <= cfg[k] <= 15:  # tries read at it is taken for: app.py _resolve)
            cfg[k] = DEFAULTS[k]
    for k in ("cmd_cap_s", "session_cap_s"):  # the wait caps (no card's ATR lifts them)
        if cfg[k] < 1:
            cfg[k] = DEFAULTS[k]
    return cfg, problem
