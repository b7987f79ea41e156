"""The journal's record kinds and the pad's message numbers: private consts in the
firmware (a public module name costs the pad's RAM in every boot), declared again by each
module that uses them (`_J_<KIND>`, `_M_<MESSAGE>`). These tests hold every copy to the
one table: padctl.store.KINDS for the kinds (the host's names), messages.py's for the
messages, and tests/fw/jnames.py (the firmware tests' names) to both.
"""
import ast
import re
from pathlib import Path

from mp import run_code
from padctl.store import KINDS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "firmware").rglob("*.py")) + sorted((ROOT / "boards").rglob("*.py"))
CONST = r"^_%s([A-Z][A-Z0-9_]+) = const\((\d+)\)"


def consts(text, prefix):
    return [(n, int(v)) for n, v in re.findall(CONST % prefix, text, re.M)]


def jnames():
    tree = ast.parse((ROOT / "tests" / "fw" / "jnames.py").read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)}


def test_the_journals_kinds_are_the_hosts():
    text = (ROOT / "firmware" / "journal.py").read_text()
    block = text[text.index("# Record kinds"):text.index("_SLOT = const(")]
    # (WINDOW, 22: not in journal.py's block; window.py and winrelay.py journal it and
    # declare it, held to the host's table by the test of every private copy)
    hosts = {k: n for k, n in KINDS.items() if k != 22}
    assert {v: n for n, v in consts(block, "")} == hosts
    assert {v: n for n, v in jnames()["KINDS"].items()} == hosts


def test_every_module_declares_the_kinds_and_messages_as_the_tables_do():
    messages = dict(consts((ROOT / "firmware" / "messages.py").read_text(), ""))
    seen = 0
    for path in SOURCES:
        text = path.read_text()
        for name, v in consts(text, "J_"):
            assert KINDS.get(v) == name, "%s: _J_%s = %d" % (path.name, name, v)
            seen += 1
        for name, v in consts(text, "M_"):
            assert messages.get(name) == v, "%s: _M_%s = %d" % (path.name, name, v)
            seen += 1
    assert seen > 40, seen  # (the flows and the app declare theirs)
    assert jnames()["MESSAGES"] == messages


def test_a_wrong_copy_would_be_caught():
    # the check's own parts: a kind declared under another number is read as such
    assert consts("_J_PIN_OK = const(7)\n", "J_") == [("PIN_OK", 7)]
    assert KINDS.get(7) != "PIN_OK"


def test_journal_and_messages_keep_no_public_names():
    # the RAM rule: no public int constant left in either resident module
    r = run_code("import journal, messages\n"
                 "print(sorted(n for m in (journal, messages) for n in dir(m) "
                 "if n.isupper() and isinstance(getattr(m, n), int)))", tests=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
