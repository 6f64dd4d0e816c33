"""Declarations match implementations: every case of the table has exactly one test, every test a case."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from tests.reliability.expected import NOT_BUILT, TABLE


def _declared_cases() -> Counter[str]:
    found: Counter[str] = Counter()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "case" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found[arg.value] += 1
    return found


def test_every_case_of_the_table_has_one_test_and_every_test_a_case():
    declared = _declared_cases()
    assert not set(declared) - set(TABLE), f"tests name cases the table lacks: {sorted(set(declared) - set(TABLE))}"
    missing = sorted(set(TABLE) - set(declared) - NOT_BUILT)
    assert not missing, f"cases of the table without a test: {missing}"
    built = sorted(NOT_BUILT & set(declared))
    assert not built, f"cases with a test still listed in NOT_BUILT: {built}"
    assert NOT_BUILT <= set(TABLE), f"NOT_BUILT names cases the table lacks: {sorted(NOT_BUILT - set(TABLE))}"
    twice = sorted(c for c, n in declared.items() if n > 1)
    assert not twice, f"cases with more than one test: {twice}"
