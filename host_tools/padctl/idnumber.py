"""The 18-character citizen ID number of GB 11643: its check digit.

The last character checks the first 17 digits: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2,
the sum mod 11 mapped to 1 0 X 9 8 7 6 5 4 3 2. Only the check digit is checked here (the
region and birth-date fields are not).
"""

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
