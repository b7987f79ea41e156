"""GB 11643 check digits (padctl.idnumber), and the holder ID number every test card the
simulator and the demo make carries (EF06): a valid one."""
import inspect

import pytest

from padctl import keys as K
from padctl.idnumber import (DEFAULT_HOLDER_ID, birth_date, gb11643_check_digit, region_exists,
                             valid_id)
from padsim import vcard
from padsim.sim import Sim
from padsim.vcard import VirtualCard


def test_check_digit_examples():
    assert gb11643_check_digit("11010519491231002") == "X"  # the standard's own example
    assert gb11643_check_digit("11010519900101123") == "2"
    assert gb11643_check_digit("00000000000000000") == "1"  # sum 0
    assert valid_id("11010519491231002X") and valid_id("11010519491231002x")
    assert valid_id(b"110105199001011232")
    assert not valid_id("110105199001011234")  # the old default: check digit 4, due 2
    assert not valid_id("11010519491231002")  # 17 characters
    assert not valid_id("1101051990010112X2") and not valid_id("11010519900101123A")
    assert not valid_id(b"\xff" * 18)
    for bad in ("1101051990010112", "1101051990010112a", "1101051990010112X3"):
        with pytest.raises(ValueError):
            gb11643_check_digit(bad)


def test_every_digit_changes_the_check():
    # a single wrong digit anywhere in the first 17 is always caught
    for i in range(17):
        for d in "0123456789":
            n = DEFAULT_HOLDER_ID[:i] + d + DEFAULT_HOLDER_ID[i + 1:]
            assert valid_id(n) == (d == DEFAULT_HOLDER_ID[i]), n


def test_default_holder_ids_are_valid():
    assert valid_id(DEFAULT_HOLDER_ID)
    for fn in (vcard.new_card_state, K.write_card):
        default = inspect.signature(fn).parameters["holder_id"].default
        assert valid_id(default), (fn.__name__, default)


def test_simulator_and_demo_cards_carry_a_valid_holder_id(tmp_path):
    # the demo's pad is Sim(workdir, lang=...) with its default cards (padsim/demo.py)
    with Sim(tmp_path / "sim") as sim:
        ids = [VirtualCard(sim.card_path).holder_id, VirtualCard(sim.new_card()).holder_id]
    for number in ids:
        assert len(number) == 18 and valid_id(number), number


def test_birth_date():
    from datetime import date
    assert birth_date(DEFAULT_HOLDER_ID) == date(1990, 1, 1)
    assert birth_date("11010520000229123X") == date(2000, 2, 29)  # a leap day
    today = date(2024, 5, 1)
    assert birth_date("110105202405011232", today) == today
    for number, why in (("110105199002301232", "19900230 is not a date"),
                        ("110105190002291232", "19000229 is not a date"),  # 1900: no leap
                        ("110105199013011232", "is not a date"),
                        ("110105199001001232", "is not a date"),
                        ("1101051990AB011232", "is not a date"),
                        ("110105189912311232", "1899-12-31 is before 1900"),
                        ("110105202405021232", "2024-05-02 is in the future")):
        with pytest.raises(ValueError, match=why):
            birth_date(number, today)


def test_region_exists():
    for code in ("110105", "110000", "110100", "440305", "650100", "710000", "810000"):
        assert region_exists(code), code
    for code in ("990105", "000000", "100105", "110005", "11010", "1101051", "11O105", ""):
        assert not region_exists(code), code
