"""The public surface: a handful of names, and no heavy imports until a command needs them."""

from __future__ import annotations

import subprocess
import sys

import simulation


def test_public_names_are_pinned_and_resolve():
    assert simulation.__all__ == [
        "RunResult", "Scenario", "ScenarioError", "TalentModel", "load_results", "load_scenario", "read_experiment",
        "run", "sweep",
    ]
    for name in simulation.__all__:
        assert getattr(simulation, name) is not None


def test_the_command_line_starts_without_heavy_imports():
    code = (
        "import sys, simulation.cli; "
        "print(sorted(m for m in ('mesa', 'pandas', 'matplotlib', 'dask', 'distributed', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _imports(module: str) -> set[str]:
    """Return the package modules that ``simulation/<module>.py`` imports, anywhere in the file."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(simulation.__file__).parent / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simulation."):
            out.add(node.module.split(".")[1])
    return out


def test_layers_import_downward_only():
    """The model knows nothing of runs, tables, figures or commands; tables know nothing of figures."""
    commands = {"cli", "cli_options", "cli_results", "cli_scenarios", "cli_sweep"}
    below_the_runner = {"runner", "results", "plots", "style", "report", "compare", "compare_plots", *commands,
                        "experiment", "executors", "store", "calibrate"}
    mechanisms = ("levers", "population", "market", "choice", "demography", "posts", "targeted", "search", "matching",
                  "updates", "employers", "observe", "model")
    for module in ("scenario", "scenario_world", "scenario_levers", "scenario_checks", *mechanisms):
        assert not _imports(module) & below_the_runner, module
    assert _imports("scenario") == {"inputs", "scenario_world", "scenario_levers", "scenario_checks"}
    assert _imports("scenario_levers") == {"inputs", "scenario_world"}
    assert _imports("scenario_world") == {"inputs"}
    assert _imports("scenario_checks") == {"inputs", "scenario", "scenario_world"}  # scenario: for type hints only
    for module in ("inputs/__init__", "inputs/errors", "inputs/fields", "inputs/reader", "inputs/units"):
        assert _imports(module) <= {"errors", "fields", "reader", "units", ""}, module  # reads files, knows no file kind
    assert _imports("market") == set()
    assert _imports("choice") == {"market"}
    for module in mechanisms[:-1]:  # each mechanism stands on its own: none imports the model
        assert "model" not in _imports(module), module
    assert not _imports("results") & {"model", "runner", "plots", "style", "report", "compare", "compare_plots",
                                      *commands}
    for module in ("plots", "style", "report", "compare", "compare_plots", "spreadsheet"):
        assert not _imports(module) & {"model", *commands}, module
    # The comparison tables draw nothing: the figures' names are only forwarded to compare_plots, on first use.
    assert not _imports("compare") & {"style", "compare_plots", "report"}
    assert _imports("summary") == set()  # the one statistic depends on nothing
    assert _imports("changes") == {"scenario"}  # what a scenario changes is read from scenarios alone
