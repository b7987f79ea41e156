# Weak PINs (issue 9): the rules a new PIN must pass. STAND-IN on the fwwindow branch with
# the contract's signature (the window contract: fwchange owns this module; the lead keeps
# its version at merge).
#
# reason(pin, n, holder_id): 0 when acceptable, else the rule broken: 1 one digit
# repeated, 2 a run up or down, 3 repeated pairs or triples, 4 the holder's birth date
# (YYMMDD or MMDDYY, from holder_id bytes 6..13 = YYYYMMDD), 5 the last six characters
# of holder_id. pin: a bytearray of n ASCII digits; holder_id: the 18 ASCII bytes of EF06,
# or None (rules 4-5 skipped). Nothing here copies the digits.


def _at(pin, n, ref, o):
    # pin[0:n] equal to ref[o:o + n]?
    if o + n > len(ref):
        return False
    d = 0
    for i in range(n):
        d |= pin[i] ^ ref[o + i]
    return d == 0


def reason(pin, n, holder_id=None):
    if n < 2:
        return 0
    same = up = down = True
    for i in range(1, n):
        d = pin[i] - pin[i - 1]
        same = same and d == 0
        up = up and d == 1
        down = down and d == -1
    if same:
        return 1
    if up or down:
        return 2
    for k in (2, 3):
        if n % k == 0 and n > k:
            rep = True
            for i in range(k, n):
                rep = rep and pin[i] == pin[i - k]
            if rep:
                return 3
    if holder_id is not None and len(holder_id) >= 18 and n == 6:
        h = holder_id
        # YYMMDD: bytes 8..13; MMDDYY: MMDD at 10..13, YY at 8..9
        if _at(pin, 6, h, 8):
            return 4
        if _at(pin, 4, h, 10) and pin[4] == h[8] and pin[5] == h[9]:
            return 4
        if _at(pin, 6, h, 12):
            return 5
    return 0
