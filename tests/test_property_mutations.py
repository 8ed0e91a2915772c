"""Property: a valid scenario changed at random either validates and runs, or is refused with exit code 2.

Hypothesis mutates scenarios/base/world.yaml (replaces values with numbers of every size, text, dates, lists,
sections, nothing; deletes keys; adds and misspells keys) and runs each result through ``talentsim run`` with a
small population. Whatever it draws, the command ends by our own hand: 0 with results, or 2 with one line per
problem and no traceback. The horizon (run.start, run.end) is left as written so each run stays short.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from simulation.cli import main  # noqa: E402

from hostile import WORLD  # noqa: E402

BASE = yaml.safe_load(WORLD.read_text())


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


PATHS = [p for p in _paths(BASE) if p and p[:2] not in (("run", "start"), ("run", "end"))]


def _at(path):
    node = BASE
    for key in path:
        node = node[key]
    return node


# numbers outside the share tables (whose rows must add up to 1): changing them gives scenarios that should run
NUMERIC = [p for p in PATHS if isinstance(_at(p), (int, float)) and not isinstance(_at(p), bool)
           and not any(str(k).endswith(("_shares", "_location", "origin_mix")) for k in p)]

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1, 0.5, 1.0001, 30, 100, 1e6, 1e9, 1e12, 1e15, 1e308, -1e308, 5e-324]),
)
VALUES = st.one_of(
    NUMBERS,
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["2025-02-30", "2025-13", "2025-02", "yes", "US", "China", "$x$", "../../x", "default"]),
    st.lists(NUMBERS, max_size=3),
    st.dictionaries(st.sampled_from(["from", "value", "US", "China", "mean", "sd"]), NUMBERS, max_size=3),
)


@st.composite
def mutations(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        action = draw(st.sampled_from(["nudge", "nudge", "nudge", "nudge", "replace", "replace", "delete",
                                       "add key", "misspell"]))
        path = draw(st.sampled_from(NUMERIC if action == "nudge" else PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]  # still there after earlier mutations?
        except (KeyError, IndexError, TypeError):
            continue
        last = path[-1]
        value = parent[last]
        if action == "nudge" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # a plausible change: the kind of value an analyst would try, most of which a run must take
            factor = draw(st.sampled_from([0, 0.1, 0.5, 0.9, 1.1, 2, 3, 10]))
            parent[last] = type(value)(value * factor) if isinstance(value, int) else value * factor
        elif action in ("replace", "nudge"):
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif action == "add key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
        elif action == "misspell" and isinstance(parent, dict) and isinstance(last, str):
            parent[last[:-1] + "x"] = parent.pop(last)
    return data


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(mutations())
def test_a_mutated_scenario_runs_or_is_refused_with_exit_code_2(tmp_path_factory, capsys, data):
    """About 60 examples, a third of which run, in 30-60 s."""
    folder = tmp_path_factory.mktemp("mutant")
    path = folder / "mutant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    out = folder / "out"
    code = main(["run", str(path), "--researchers", "300", "--replicates", "1", "--out", str(out), "--quiet",
                 "--no-figures"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err
    assert code in (0, 2), captured.err
    event("ran" if code == 0 else "refused")
    if code == 0:
        assert (out / "manifest.json").is_file()
    else:
        assert not out.exists()
        lines = [line for line in captured.err.splitlines() if line.startswith("  ")]
        assert lines and all(re.match(r"  \S.*: ", line) for line in lines), captured.err
