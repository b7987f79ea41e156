# The pad's texts: every message exists in both languages, with its argument slot.
import messages as M
import jnames  # noqa: F401 (the kinds' and messages' names)
import mptest

IDS = [v for k, v in M.__dict__.items() if k.isupper() and type(v) is int]


def test_every_message_in_both_languages():
    for lang in ("en", "zh"):
        tab = M.table(lang)
        for i in IDS:
            l1, l2 = M.lines(tab, i, 2)
            mptest.true(l1 and not l1.startswith("?"), "%s message %d missing" % (lang, i))


def test_every_line_in_both_languages():
    # the messages shown by number (window.py, reset.py: no name costs RAM) too
    en, zh = M.table("en"), M.table("zh")
    with open(en, encoding="utf-8") as f:
        n = len(f.read().splitlines())
    with open(zh, encoding="utf-8") as f:
        mptest.eq(len(f.read().splitlines()), n)
    for tab in (en, zh):
        for i in range(n):
            l1, l2 = M.lines(tab, i, 2)
            mptest.true(l1 and not l1.startswith("?"), "%s line %d empty" % (tab, i))


def test_argument_and_languages_differ():
    en, zh = M.table("en"), M.table("zh")
    mptest.eq(M.lines(en, M.PIN_WRONG, 2), ("Wrong PIN", "Tries left: 2"))
    mptest.eq(M.lines(zh, M.PIN_WRONG, 1), ("密码错误", "还可尝试1次"))
    mptest.eq(M.lines(en, M.ENTER_PIN, "***"), ("Enter PIN", "***"))
    mptest.eq(M.table("fr"), en)


def test_unknown_id_is_visible_not_a_crash():
    mptest.eq(M.lines(M.table("en"), 99), ("?99", ""))


mptest.main(globals())
