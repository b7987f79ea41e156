"""GB/T 2260 region codes and the region-level dispersion factors (protocol.md section 2).

A code is 6 digits ``PPCCDD``: a province ``PP0000`` (level 1), a prefecture
``PPCC00`` (level 2) or a city / county ``PPCCDD`` (level 3). The province must be one
of GB/T 2260's; prefecture and county digits are checked for form (``CC`` not ``00``
under a county), not against the full table. The factor of a level is the code at that
level, lower levels zeroed, in ASCII, then ``sx`` (prefecture 371700: ``371700sx``).
"""
from .errors import RegionError

PROVINCES = frozenset((
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82"))
LEVEL_NAMES = {0: "ministry", 1: "province", 2: "prefecture", 3: "city"}


def check(code):
    """(code, level) of a GB/T 2260 code; RegionError with the reason otherwise."""
    if isinstance(code, (bytes, bytearray)):
        code = bytes(code).hex()
    if not isinstance(code, str) or len(code) != 6 or not (code.isascii() and code.isdigit()):
        raise RegionError("region %r is not a GB/T 2260 code: 6 digits PPCCDD expected"
                          % (code,))
    if code[:2] not in PROVINCES:
        raise RegionError("region %s is not a GB/T 2260 code: no province %s" % (code, code[:2]))
    if code[2:] == "0000":
        return code, 1
    if code[4:] == "00":
        return code, 2
    if code[2:4] == "00":
        raise RegionError("region %s is not a GB/T 2260 code: a county needs its prefecture "
                          "digits (CC is 00)" % code)
    return code, 3


def level_of(code):
    return check(code)[1]


def at(code, level):
    """The code at a level (1-3), lower levels zeroed; RegionError above the code's own."""
    code, own = check(code)
    if level not in (1, 2, 3) or level > own:
        raise RegionError("region %s (%s) has no %s level"
                          % (code, LEVEL_NAMES[own], LEVEL_NAMES.get(level, str(level))))
    return code[:2 * level] + "0" * (6 - 2 * level)


def factor(code, level):
    """The 8-byte dispersion factor of a region level: ASCII code at the level + ``sx``."""
    return at(code, level).encode("ascii") + b"sx"


def covers(scope, code):
    """True if region ``scope`` is ``code`` or one of its ancestors."""
    scope, lvl = check(scope)
    code, own = check(code)
    return own >= lvl and code[:2 * lvl] == scope[:2 * lvl]
