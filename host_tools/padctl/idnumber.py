"""The 18-character citizen ID number of GB 11643: its check digit.

The last character checks the first 17 digits: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2,
the sum mod 11 mapped to 1 0 X 9 8 7 6 5 4 3 2. ``valid_id`` checks that digit only;
``birth_date`` (characters 7-14, a real date from 1900 to today) and ``region_exists``
(characters 1-6, a GB/T 2260 code: the key service's table, padctl.keysvc.regions) check
the other fields (padctl.window uses all three).
"""
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"

# The holder ID number the test cards carry unless told otherwise (EF06; test material:
# region 110105, born 1990-01-01, a valid check digit).
DEFAULT_HOLDER_ID = "110105199001011232"


def gb11643_check_digit(first17):
    """The check character ('0'-'9' or 'X') of the first 17 digits of an ID number."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("GB 11643: 17 digits expected")
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS)) % 11]


def valid_id(number):
    """True if number (str or ASCII bytes) is 17 digits and their check character."""
    if isinstance(number, (bytes, bytearray)):
        try:
            number = number.decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(number, str) or len(number) != 18:
        return False
    try:
        return gb11643_check_digit(number[:17]) == number[17].upper()
    except ValueError:
        return False


FIRST_YEAR = 1900


def birth_date(number, today=None):
    """The birth date of an 18-character number (characters 7-14, YYYYMMDD) as a date;
    ValueError saying why when it is not a date, before FIRST_YEAR or after today."""
    digits = number[6:14]
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValueError("birth date %s is not a date" % digits) from None
    if born.year < FIRST_YEAR:
        raise ValueError("birth date %s is before %d" % (born.isoformat(), FIRST_YEAR))
    if born > (today or date.today()):
        raise ValueError("birth date %s is in the future" % born.isoformat())
    return born


def region_exists(code):
    """True if code (6 digits) is a GB/T 2260 code as the key service checks them: a
    province that exists, a prefecture and county of the right form."""
    from .keysvc.errors import RegionError
    from .keysvc.regions import check
    try:
        check(code)
    except RegionError:
        return False
    return True
