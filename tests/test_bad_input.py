"""Bad input: every class of mistake in a scenario file or on the command line is reported, not crashed on.

Each malformed scenario is built in a temporary folder from scenarios/base/world.yaml (the self-contained
scenario that scenarios/baseline.yaml builds on), or as a file that
``extends:`` it, and checked through ``talentsim validate`` and ``talentsim run``: exit code 2, no traceback,
and one line per problem of the form ``FILE: key.path: what is allowed (got VALUE)``, naming the file where
the bad value was written.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from simulation.cli import main
from simulation.scenario import Problem, ScenarioError, load_scenario, scenario_from_dict

from conftest import SCENARIOS

BASELINE = SCENARIOS / "base" / "world.yaml"  # the self-contained scenario that baseline.yaml builds on
DELETE = object()


# --------------------------------------------------------------------------------------------------------------
# Helpers


def baseline_data() -> dict:
    return yaml.safe_load(BASELINE.read_text())


def split_path(path: str) -> list:
    """``"levers.compute_access.China[1].from"`` -> ``["levers", "compute_access", "China", 1, "from"]``."""
    keys: list = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        keys += [name, *(int(i) for i in indexes if i)]
    return keys


def edited(data: dict, edits: dict) -> dict:
    """Return a copy of ``data`` with each dotted key path set to its value (or removed, for DELETE)."""
    data = copy.deepcopy(data)
    for path, value in edits.items():
        *parents, last = split_path(path)
        node = data
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return data


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invoke(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    assert "internal error" not in err, err
    return code, out, err


def problem_lines(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.startswith("  ")]


def line_for(err: str, file: Path, path: str) -> str:
    """Return the one problem line about ``path`` in ``file``."""
    prefix = f"{file}: {path}: " if path else f"{file}: "
    lines = [line for line in problem_lines(err) if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting {prefix!r} in:\n{err}"
    return lines[0]


def check_bad(capsys, tmp_path, file: Path, path: str, got: str | None, *allowed: str, reported_in: Path | None = None):
    """Assert that validate and run both reject ``file`` with exit 2 and the expected problem line.

    ``reported_in`` is the file the problem is in (default ``file``); ``got`` is the value as shown.
    """
    out_dir = tmp_path / "out"
    lines = []
    for argv in (["validate", file], ["run", file, "--out", out_dir, "--quiet", "--no-figures"]):
        code, out, err = invoke(capsys, *argv)
        assert code == 2, f"{argv[0]} exited {code}:\n{out}{err}"
        line = line_for(err, reported_in or file, path)
        if got is not None:
            assert line.endswith(f"(got {got})"), line
        for text in allowed:
            assert text in line, f"{text!r} not in {line!r}"
        lines.append(line)
    assert lines[0] == lines[1]
    assert not out_dir.exists(), "a rejected scenario must not produce results"
    return lines[0]


# --------------------------------------------------------------------------------------------------------------
# One mistake per file, written into a copy of the baseline

CASES = [
    # unknown keys, with suggestions for near misses
    ({"colour": "red"}, "colour", "'colour'", "unknown key", "Allowed: name, description, extends, run"),
    ({"levers.visa_odd": {"US": {"China": 0.5}}}, "levers.visa_odd", "'visa_odd'", "did you mean 'visa_odds'?"),
    ({"run.stepmonths": 6}, "run.stepmonths", "'stepmonths'", "did you mean 'step_months'?"),
    ({"employers.openai.salary_usd": 1}, "employers.openai.salary_usd", "'salary_usd'", "Allowed: name, region, kind"),
    ({"levers.return_programme.China.qiming.age_limit": 40}, "levers.return_programme.China.qiming.age_limit", "'age_limit'",
     "Allowed: bonus_usd, slots_per_year, max_career_age_years"),
    ({"levers.compute_access.China[1].valeu": 0.5}, "levers.compute_access.China[1].valeu", "'valeu'",
     "did you mean 'value'?"),
    ({"levers.signing_bonus.openai.standard.target_quantil": 0.9}, "levers.signing_bonus.openai.standard.target_quantil",
     "'target_quantil'", "did you mean 'target_quantile'?"),
    # wrong types
    ({"employers.openai.base_pay_usd": "lots"}, "employers.openai.base_pay_usd", "'lots'", "must be a number"),
    ({"run.researchers": "many"}, "run.researchers", "'many'", "must be a whole number"),
    ({"run.researchers": 2500.5}, "run.researchers", "2500.5", "must be a whole number"),
    ({"regions": ["US", "China"]}, "regions", "['US', 'China']", "must be a mapping"),
    ({"run": ["2019-01", "2035-01"]}, "run", None, "must be a section with the keys start, end"),
    ({"preferences.default.pay": 1.5}, "preferences.default.pay", "1.5", "must be a section with the keys mean, sd"),
    ({"levers.visa_odds.US.China": {"odds": 0.5}}, "levers.visa_odds.US.China", None, "must be a number"),
    ({"levers.visa_odds.US.China": True}, "levers.visa_odds.US.China", "true", "must be a number, not true/false"),
    ({"employers.openai.base_pay_usd": float("inf")}, "employers.openai.base_pay_usd", "inf", "finite number"),
    ({"employers.openai.kind": "university"}, "employers.openai.kind", "'university'",
     "must be one of 'big_tech', 'frontier_lab', 'startup', 'academia' or 'state_lab'"),
    ({"employers.openai.state_backed": "maybe"}, "employers.openai.state_backed", "'maybe'", "true or false"),
    ({"name": 42}, "name", "42", "must be text"),
    ({"levers.compute_access.China": []}, "levers.compute_access.China", "[]", "{from: YYYY-MM, value: ...}"),
    ({"levers.compute_access.China": [1.0, 0.7]}, "levers.compute_access.China", "[1.0, 0.7]",
     "{from: YYYY-MM, value: ...}"),
    # probabilities outside [0, 1]
    ({"levers.visa_odds.US.China": 1.5}, "levers.visa_odds.US.China", "1.5", "must be between 0 and 1"),
    ({"levers.visa_odds.US.default[1].value": -0.2}, "levers.visa_odds.US.default[1].value", "-0.2",
     "must be between 0 and 1"),
    ({"levers.exit_restriction.employer.deepseek": 2}, "levers.exit_restriction.employer.deepseek", "2",
     "must be between 0 and 1"),
    ({"levers.exit_restriction.region.China": -0.1}, "levers.exit_restriction.region.China", "-0.1",
     "must be between 0 and 1"),
    ({"population.top_tier_quantile": 1.2}, "population.top_tier_quantile", "1.2", "must be between 0 and 1"),
    ({"levers.signing_bonus.openai.standard.target_quantile": 99}, "levers.signing_bonus.openai.standard.target_quantile", "99",
     "must be between 0 and 1"),
    ({"population.exits.hazard_per_year": 1.5}, "population.exits.hazard_per_year", "1.5", "between 0 and 1"),
    ({"population.elite_quantile": 0.5}, "population.elite_quantile", "0.5",
     "must be greater than top_tier_quantile (0.8)"),
    # negative pay, counts and rates
    ({"employers.openai.base_pay_usd": -5}, "employers.openai.base_pay_usd", "-5", "must be greater than 0"),
    ({"regions.US.unplaced_pay_usd": -1000}, "regions.US.unplaced_pay_usd", "-1000", "must be between 0 and"),
    ({"run.researchers": -10}, "run.researchers", "-10", "must be between 100 and 50,000,000"),
    ({"run.replicates": 0}, "run.replicates", "0", "must be between 1 and 100,000"),
    ({"population.represents": 0}, "population.represents", "0", "must be greater than 0"),
    ({"levers.return_programme.China.qiming.slots_per_year": -1}, "levers.return_programme.China.qiming.slots_per_year", "-1",
     "must be between 0 and 1,000,000"),
    ({"levers.signing_bonus.openai.standard.budget_usd_m_per_year": -100},
     "levers.signing_bonus.openai.standard.budget_usd_m_per_year", "-100", "must be between 0 and 1,000,000"),
    ({"levers.signing_bonus.openai.standard.max_usd": 1000}, "levers.signing_bonus.openai.standard.max_usd", "1000",
     "must be at least bonus_usd (500,000)"),
    ({"levers.pipeline.entry_rate_per_year": -0.1}, "levers.pipeline.entry_rate_per_year", "-0.1", "between 0 and"),
    ({"market.posts_funding_elasticity": 3}, "market.posts_funding_elasticity", "3", "must be between 0 and 2"),
    ({"levers.signing_bonus.meta": {"budget_usd_m_per_year": 1, "bonus_usd": 1e5, "max_usd": 1e6, "target_quantile": 0.9}},
     "levers.signing_bonus.meta", None, "policies are named", "adds a policy under a new name"),
    ({"levers.state_funding_usd_m_per_year.region.China": -3000},
     "levers.state_funding_usd_m_per_year.region.China", "-3000", "must be between 0 and"),
    ({"levers.compute_access.China[2].value": -0.6}, "levers.compute_access.China[2].value", "-0.6", "between 0 and"),
    ({"population.origin_shares.US": -0.2}, "population.origin_shares.US", "-0.2", "must be between 0 and"),
    # bad dates
    ({"run.start": "2025-13"}, "run.start", "'2025-13'", "a month written YYYY-MM"),
    ({"run.end": "soon"}, "run.end", "'soon'", "a month written YYYY-MM"),
    ({"run.end": 2035}, "run.end", "2035", "a month written YYYY-MM"),
    ({"run.end": "2018-06"}, "run.end", "'2018-06'", "must come after run.start (2019-01)"),
    ({"run.end": "2019-02"}, "run.end", "'2019-02'", "at least one step (3 months) after run.start"),
    ({"levers.compute_access.China[1].from": "late 2022"}, "levers.compute_access.China[1].from", "'late 2022'",
     "a month written YYYY-MM"),
    # names that point nowhere
    ({"employers.openai.region": "Mars"}, "employers.openai.region", "'Mars'",
     "unknown region", "Allowed: US, China, Europe, RoW"),
    ({"employers.openai.region": "Chin"}, "employers.openai.region", "'Chin'", "did you mean 'China'?"),
    ({"levers.visa_odds.Canada": {"default": 0.5}}, "levers.visa_odds.Canada", "'Canada'",
     "unknown region", "Allowed: US, China, Europe, RoW"),
    ({"levers.visa_odds.US.Chna": 0.5}, "levers.visa_odds.US.Chna", "'Chna'", "did you mean 'China'?", "'default'"),
    ({"levers.signing_bonus.opnai": {"standard": {"budget_usd_m_per_year": 1, "bonus_usd": 1e5, "max_usd": 1e6,
                                                  "target_quantile": 0.9}}},
     "levers.signing_bonus.opnai", "'opnai'", "unknown employer; did you mean 'openai'?", "Allowed: openai, anthropic"),
    ({"levers.exit_restriction.employer.deepsek": 0.5}, "levers.exit_restriction.employer.deepsek", "'deepsek'",
     "unknown employer; did you mean 'deepseek'?"),
    ({"levers.exit_restriction.region.Atlantis": 0.5}, "levers.exit_restriction.region.Atlantis", "'Atlantis'",
     "unknown region"),
    ({"levers.compute_access.Moon": 0.5}, "levers.compute_access.Moon", "'Moon'", "unknown region"),
    ({"levers.state_funding_usd_m_per_year.employer.mistal": 0.1}, "levers.state_funding_usd_m_per_year.employer.mistal",
     "'mistal'", "unknown employer; did you mean 'mistral'?"),
    ({"levers.return_programme.India": {"talent": {"bonus_usd": 1e5, "slots_per_year": 1}}}, "levers.return_programme.India",
     "'India'", "unknown region"),
    ({"population.initial_location.China.Africa": 0.0}, "population.initial_location.China.Africa", "'Africa'",
     "unknown region"),
    ({"preferences.by_origin.Chinese": {"home": {"mean": 1}}}, "preferences.by_origin.Chinese", "'Chinese'",
     "did you mean 'China'?"),
    # shares that do not add up
    ({"population.origin_shares.China": 0.5}, "population.origin_shares", None, "must add up to 1", "1.21"),
    ({"population.initial_location.US.US": 0.5}, "population.initial_location.US", None, "must add up to 1"),
    ({"levers.pipeline.origin_mix[1].value.China": 0.9}, "levers.pipeline.origin_mix[1].value", None,
     "must add up to 1", "1.4"),
    ({"levers.pipeline.origin_mix": {"China": 0.5, "US": 0.1}}, "levers.pipeline.origin_mix", None, "must add up to 1"),
    # schedules out of time order
    ({"levers.compute_access.China": [{"from": "2023-10", "value": 1.0}, {"from": "2022-10", "value": 0.7}]},
     "levers.compute_access.China[1].from", "'2022-10'", "time order", "2023-10"),
    ({"levers.investment_index.US[2].from": "2019-01"}, "levers.investment_index.US[2].from", "'2019-01'",
     "time order"),
    ({"levers.compute_access.China": [{"from": "2019-01", "value": 1.0}, {"value": 0.7}]},
     "levers.compute_access.China[1].from", None, "only the first step may leave out 'from'"),
    # missing required keys
    ({"run.start": DELETE}, "run.start", None, "required key is missing", "first month simulated"),
    ({"name": DELETE}, "name", None, "required key is missing"),
    ({"employers.openai.base_pay_usd": DELETE}, "employers.openai.base_pay_usd", None, "required key is missing"),
    ({"levers.compute_access.China[1].value": DELETE}, "levers.compute_access.China[1].value", None,
     "required key is missing"),
    ({"employers.us_startups.region": DELETE}, "employers.us_startups.region", None, "required key is missing"),
]


@pytest.mark.parametrize(("edits", "path", "got", "allowed"), [
    pytest.param(edits, path, got, allowed, id=f"{path}={'deleted' if DELETE in edits.values() else got}")
    for edits, path, got, *allowed in CASES
])
def test_one_mistake_is_reported_with_file_key_value_and_what_is_allowed(capsys, tmp_path, edits, path, got, allowed):
    file = write(tmp_path / "bad.yaml", edited(baseline_data(), edits))
    check_bad(capsys, tmp_path, file, path, got, *allowed)


def test_a_schedule_may_start_after_the_run_start(capsys, tmp_path):
    """Not a mistake: before its first step a lever keeps its value when not listed."""
    data = edited(baseline_data(), {"levers.compute_access.US": [{"from": "2030-01", "value": 0.5}]})
    code, out, _ = invoke(capsys, "validate", write(tmp_path / "late.yaml", data))
    assert code == 0 and out.startswith("ok:")


def test_a_name_yaml_reads_as_true_false_or_a_number_is_reported(capsys, tmp_path):
    text = BASELINE.read_text().replace("  Europe:\n    name: Europe", "  NO:\n    name: Norway", 1)
    assert text != BASELINE.read_text()
    file = tmp_path / "norway.yaml"
    file.write_text(text)
    check_bad(capsys, tmp_path, file, "regions", "false", "must be text", "quotes")


def test_a_key_written_twice_is_reported_with_its_line(capsys, tmp_path):
    text = BASELINE.read_text().replace("  step_months: 3\n", "  step_months: 3\n  step_months: 6\n", 1)
    file = tmp_path / "twice.yaml"
    file.write_text(text)
    line_no = text.splitlines().index("  step_months: 6") + 1
    check_bad(capsys, tmp_path, file, f"line {line_no}, column 3", None, "'step_months' is written twice")


# --------------------------------------------------------------------------------------------------------------
# Unit slips: every field of a unit says which unit it is in and how to write the value meant

# Every field whose values are shares, probabilities, quantiles or yearly rates in [0, 1]: a key path that sets it.
SHARE_FIELDS = {
    ("Population", "top_tier_quantile"): "population.top_tier_quantile",
    ("Population", "elite_quantile"): "population.elite_quantile",
    ("Population", "frontier_quantile"): "population.frontier_quantile",
    ("Population", "origin_shares"): "population.origin_shares.US",
    ("Population", "initial_location"): "population.initial_location.China.US",
    ("Population", "training_location"): "population.training_location.China.US",
    ("Population", "abroad_quality_gain_per_year"): "population.abroad_quality_gain_per_year",
    ("TailSampling", "quantile"): "population.tail_sampling.quantile",
    ("TailSampling", "share"): "population.tail_sampling.share",
    ("ExitSettings", "hazard_per_year"): "population.exits.hazard_per_year",
    ("ExitSettings", "retirement_hazard_per_year"): "population.exits.retirement_hazard_per_year",
    ("ExitSettings", "unplaced_hazard_per_year"): "population.exits.unplaced_hazard_per_year",
    ("Strategy", "raise_per_step"): "employers.openai.strategy.raise_per_step",
    ("Strategy", "relax_per_step"): "employers.openai.strategy.relax_per_step",
    ("Strategy", "target_unfilled_share"): "employers.openai.strategy.target_unfilled_share",
    ("BonusPolicy", "target_quantile"): "levers.signing_bonus.openai.standard.target_quantile",
    ("Levers", "visa_odds"): "levers.visa_odds.US.default[0].value",
    ("Levers", "talent_visa_odds"): "levers.talent_visa_odds.US.default",
    ("ExitRestriction", "region"): "levers.exit_restriction.region.China",
    ("ExitRestriction", "employer"): "levers.exit_restriction.employer.deepseek",
    ("Pipeline", "entry_rate_per_year"): "levers.pipeline.entry_rate_per_year",
    ("Pipeline", "origin_mix"): "levers.pipeline.origin_mix[1].value.China",
}

# Every field of an amount in USD or USD million: a key path, a value written in the wrong unit, and the message.
USD_FIELDS = {
    ("Employer", "base_pay_usd"): ("employers.openai.base_pay_usd", 420,
                                   "is pay in USD a year; 420 reads as thousands (write USD 420,000 as 420000)"),
    ("Region", "unplaced_pay_usd"): ("regions.US.unplaced_pay_usd", 80,
                                     "is pay in USD a year; 80 reads as thousands (write USD 80,000 as 80000)"),
    ("Employer", "funding_usd_per_researcher"): (
        "employers.openai.funding_usd_per_researcher", 900,
        "is in USD a year per researcher; 900 reads as thousands (write USD 900,000 as 900000)"),
    ("BonusPolicy", "bonus_usd"): ("levers.signing_bonus.openai.standard.bonus_usd", 5,
                                   "is in USD (one bonus or package); 5 reads as millions (write USD 5 million as "
                                   "5000000)"),
    ("BonusPolicy", "max_usd"): ("levers.signing_bonus.openai.standard.max_usd", 20,
                                 "is in USD (one bonus or package); 20 reads as millions (write USD 20 million as "
                                 "20000000)"),
    ("ReturnProgramme", "bonus_usd"): ("levers.return_programme.China.qiming.bonus_usd", 0.56,
                                       "0.56 reads as millions (write USD 0.56 million as 560000)"),
    ("BonusPolicy", "budget_usd_m_per_year"): (
        "levers.signing_bonus.openai.standard.budget_usd_m_per_year", 15_000_000,
        "is in USD million per year, at most 1,000,000; 15,000,000 reads as dollars (write USD 15 million as 15)"),
    ("StateFunding", "region"): ("levers.state_funding_usd_m_per_year.region.China", 3_000_000_000,
                                 "3,000,000,000 reads as dollars (write USD 3,000 million as 3000)"),
    ("StateFunding", "employer"): ("levers.state_funding_usd_m_per_year.employer.deepseek", 500_000_000,
                                   "is in USD million per year, at most 1,000,000; 500,000,000 reads as dollars "
                                   "(write USD 500 million as 500)"),
}


def _schema_fields() -> dict[tuple[str, str], list[dict]]:
    """Return the numbers each field of the scenario schema holds (their JSON schemas), by (class, field)."""
    from simulation.scenario import Scenario

    schema = Scenario.model_json_schema()
    defs = schema["$defs"]

    def numbers(node):
        ref = node.get("$ref", "")
        if ref:  # a schedule's step holds the value; another section is a class of its own
            name = ref.rsplit("/", 1)[-1]
            if "Step" in name:
                yield from numbers(defs[name]["properties"]["value"])
            return
        if node.get("type") in ("number", "integer"):
            yield node
        for key in ("anyOf", "allOf", "oneOf"):
            for option in node.get(key, []):
                yield from numbers(option)
        for key in ("additionalProperties", "items"):
            if isinstance(node.get(key), dict):
                yield from numbers(node[key])

    return {(cls, name): list(numbers(field))
            for cls, section in [("Scenario", schema), *defs.items()] if "Step" not in cls
            for name, field in section.get("properties", {}).items()}


def test_every_share_and_every_usd_field_has_a_unit_slip_case():
    """A field added to the schema with a share's range, or in USD, needs its case below."""
    fields = _schema_fields()
    shares = {key for key, numbers in fields.items() if numbers and all(
        n.get("maximum", n.get("exclusiveMaximum", 2)) <= 1 and n.get("minimum", n.get("exclusiveMinimum", -1)) >= 0
        for n in numbers)}
    assert shares == set(SHARE_FIELDS)
    usd = {key for key, numbers in fields.items() if numbers and ("usd" in key[1] or key[0] == "StateFunding")}
    assert usd == set(USD_FIELDS)


@pytest.mark.parametrize("path", list(SHARE_FIELDS.values()))
def test_a_share_written_in_percent_says_how_to_write_it(capsys, tmp_path, path):
    file = write(tmp_path / "bad.yaml", edited(baseline_data(), {path: 30}))
    rate = path.endswith(("_per_year", "_per_step"))
    check_bad(capsys, tmp_path, file, path, "30", f"({'a rate' if rate else 'a share'}: write 30% as 0.3)")


@pytest.mark.parametrize(("path", "value", "words"), list(USD_FIELDS.values()),
                         ids=[path for path, *_ in USD_FIELDS.values()])
def test_an_amount_in_the_wrong_unit_says_which_unit_is_meant(capsys, tmp_path, path, value, words):
    file = write(tmp_path / "bad.yaml", edited(baseline_data(), {path: value}))
    line = check_bad(capsys, tmp_path, file, path, f"{value:g}" if isinstance(value, float) else str(value), words)
    assert line.count(":") == 2 and "\n" not in line  # FILE: key.path: message (got VALUE), one line


def test_a_unit_slip_in_a_child_or_in_an_experiment_names_where_it_was_written(capsys, tmp_path, parent):
    file = child(tmp_path, {"employers": {"openai": {"base_pay_usd": 420}}})
    check_bad(capsys, tmp_path, file, "employers.openai.base_pay_usd", "420", "reads as thousands")
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(f"""name: units
scenario: {parent}
run: {{researchers: 1000, end: 2021-01}}
levers:
  bonus: {{path: levers.signing_bonus.meta.standard.bonus_usd, values: [5, 1.0e7]}}
outcomes:
  us_share: {{kind: share, region: US, tier: top_tier, year: 2020}}
""")
    code, _, err = invoke(capsys, "sweep", experiment, "--dry-run")
    assert code == 2
    line = line_for(err, experiment, "levers.bonus.values[0]")
    assert "levers.signing_bonus.meta.standard.bonus_usd: is in USD (one bonus or package); 5 reads as millions" in line


def test_amounts_that_are_meant_are_not_slips(capsys, tmp_path):
    """No bonus (0), a postdoc's pay, a mega-offer and a small budget in USD million all validate."""
    file = write(tmp_path / "fine.yaml", edited(baseline_data(), {
        "levers.signing_bonus.openai.standard.bonus_usd": 0, "levers.signing_bonus.openai.standard.max_usd": 3e8,
        "regions.China.unplaced_pay_usd": 0, "employers.china_academia.base_pay_usd": 1000,
        "levers.signing_bonus.openai.standard.budget_usd_m_per_year": 0.5,
    }))
    code, out, err = invoke(capsys, "validate", file)
    assert code == 0, err


# --------------------------------------------------------------------------------------------------------------
# Several mistakes in one file: all are reported, one line each


def test_every_problem_in_a_file_is_reported_on_its_own_line(capsys, tmp_path):
    file = write(tmp_path / "many.yaml", edited(baseline_data(), {
        "colour": "red",
        "run.start": "2025-13",
        "employers.openai.base_pay_usd": -5,
        "levers.visa_odds.US.China": 1.5,
        "levers.signing_bonus.openai.standard.target_quantile": "high",
    }))
    code, _, err = invoke(capsys, "validate", file)
    assert code == 2
    assert "5 problems" in err
    for path, got in [("colour", "'colour'"), ("run.start", "'2025-13'"), ("employers.openai.base_pay_usd", "-5"),
                      ("levers.visa_odds.US.China", "1.5"),
                      ("levers.signing_bonus.openai.standard.target_quantile", "'high'")]:
        assert line_for(err, file, path).endswith(f"(got {got})")
    assert len(problem_lines(err)) == 5


def test_every_reference_and_share_problem_is_reported(capsys, tmp_path):
    file = write(tmp_path / "names.yaml", edited(baseline_data(), {
        "employers.openai.region": "Mars",
        "levers.signing_bonus.opnai": {"standard": {"budget_usd_m_per_year": 1, "bonus_usd": 1e5, "max_usd": 1e6,
                                                    "target_quantile": 0.9}},
        "levers.exit_restriction.employer.deepsek": 0.5,
        "levers.visa_odds.US.Chna": 0.5,
        "population.origin_shares.China": 0.5,
        "levers.compute_access.China[1].from": "2018-01",
    }))
    code, _, err = invoke(capsys, "validate", file)
    assert code == 2
    paths = ["employers.openai.region", "levers.signing_bonus.opnai", "levers.exit_restriction.employer.deepsek",
             "levers.visa_odds.US.Chna", "population.origin_shares", "levers.compute_access.China[1].from"]
    for path in paths:
        line_for(err, file, path)
    assert len(problem_lines(err)) == len(paths)


def test_form_problems_say_that_more_checks_follow(capsys, tmp_path):
    file = write(tmp_path / "form.yaml", edited(baseline_data(), {"run.seed": "x", "employers.openai.region": "Mars"}))
    code, _, err = invoke(capsys, "validate", file)
    assert code == 2
    line_for(err, file, "run.seed")
    assert "checked once these are fixed" in err


def test_the_python_api_raises_scenario_error_with_the_problems(tmp_path):
    file = write(tmp_path / "api.yaml", edited(baseline_data(), {"run.end": "soon", "regions.US.visa_friction": -1}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    problems = {(p.file, p.path): p for p in info.value.problems}
    assert set(problems) == {(str(file), "run.end"), (str(file), "regions.US.visa_friction")}
    assert problems[(str(file), "run.end")].value == "soon"
    assert str(info.value).splitlines()[0].startswith(f"{file}: ")


# --------------------------------------------------------------------------------------------------------------
# Mistakes through extends: the message names the file where the bad value was written


@pytest.fixture
def parent(tmp_path) -> Path:
    """A copy of the baseline that child scenarios extend (relative path, as users write it)."""
    return Path(shutil.copy(BASELINE, tmp_path / "parent.yaml"))


def child(tmp_path, data: dict, name: str = "child.yaml", extends: str = "parent.yaml") -> Path:
    return write(tmp_path / name, {"extends": extends, "name": "child", **data})


def test_a_bad_value_in_a_child_names_the_child(capsys, tmp_path, parent):
    file = child(tmp_path, {"levers": {"visa_odds": {"US": {"China": 1.5}}}})
    check_bad(capsys, tmp_path, file, "levers.visa_odds.US.China", "1.5", "must be between 0 and 1")


def test_a_bad_step_a_child_adds_to_a_schedule_is_counted_in_the_child(capsys, tmp_path, parent):
    # The merged schedule keeps the parent's six steps before 2026-01; the child wrote its step as [0].
    file = child(tmp_path, {"levers": {"visa_odds": {"US": {"default": [{"from": "2026-01", "value": 1.5}]}}}})
    check_bad(capsys, tmp_path, file, "levers.visa_odds.US.default[0].value", "1.5", "must be between 0 and 1")


def test_steps_out_of_order_in_a_child_are_counted_in_the_child(capsys, tmp_path, parent):
    file = child(tmp_path, {"levers": {"compute_access": {"China": [
        {"from": "2026-01", "value": 0.5}, {"from": "2025-01", "value": 0.4}]}}})
    check_bad(capsys, tmp_path, file, "levers.compute_access.China[1].from", "'2025-01'", "time order")


def test_a_bad_value_in_the_parent_names_the_parent(capsys, tmp_path, parent):
    write(parent, edited(baseline_data(), {"regions.US.visa_friction": -0.4}))
    file = child(tmp_path, {"run": {"seed": 7}})
    check_bad(capsys, tmp_path, file, "regions.US.visa_friction", "-0.4", "must be between 0 and", reported_in=parent)


def test_a_bad_parent_step_kept_under_a_child_schedule_names_the_parent(capsys, tmp_path, parent):
    write(parent, edited(baseline_data(), {"levers.compute_access.China[1].value": -0.7}))
    file = child(tmp_path, {"levers": {"compute_access": {"China": [{"from": "2026-01", "value": 0.5}]}}})
    check_bad(capsys, tmp_path, file, "levers.compute_access.China[1].value", "-0.7", "between 0 and", reported_in=parent)


def test_a_bad_plain_parent_value_under_a_child_schedule_names_the_parent(capsys, tmp_path, parent):
    write(parent, edited(baseline_data(), {"levers.visa_odds.Europe.default": 1.7}))
    file = child(tmp_path, {"levers": {"visa_odds": {"Europe": {"default": [{"from": "2026-01", "value": 0.5}]}}}})
    check_bad(capsys, tmp_path, file, "levers.visa_odds.Europe.default", "1.7", "between 0 and 1", reported_in=parent)


def test_problems_in_parent_and_child_are_each_named_in_their_file(capsys, tmp_path, parent):
    write(parent, edited(baseline_data(), {"employers.meta.base_pay_usd": "high"}))
    file = child(tmp_path, {"run": {"researchers": 10}, "levers": {"visa_odd": {}}})
    code, _, err = invoke(capsys, "validate", file)
    assert code == 2
    line_for(err, parent, "employers.meta.base_pay_usd")
    assert line_for(err, file, "run.researchers").endswith("(got 10)")
    assert "did you mean 'visa_odds'?" in line_for(err, file, "levers.visa_odd")
    assert len(problem_lines(err)) == 3


def test_reference_problems_in_a_child_name_the_child(capsys, tmp_path, parent):
    file = child(tmp_path, {
        "employers": {"newlab": {"name": "New lab", "region": "Atlantis", "kind": "startup", "weight": 1,
                                 "base_pay_usd": 1e5, "compute_per_researcher": 1, "funding_usd_per_researcher": 1e5}},
        "levers": {"signing_bonus": {"opnai": {"standard": {"budget_usd_m_per_year": 1, "bonus_usd": 1e5, "max_usd": 1e5,
                                                            "target_quantile": 0.9}}}},
    })
    code, _, err = invoke(capsys, "validate", file)
    assert code == 2
    assert "'Atlantis'" in line_for(err, file, "employers.newlab.region")
    assert "did you mean 'openai'?" in line_for(err, file, "levers.signing_bonus.opnai")


def test_a_grandparent_problem_names_the_grandparent(capsys, tmp_path, parent):
    write(parent, edited(baseline_data(), {"population.top_tier_quantile": 2}))
    child(tmp_path, {"run": {"seed": 1}}, name="middle.yaml")
    (tmp_path / "sub").mkdir()
    top = child(tmp_path, {"run": {"seed": 2}}, name="sub/top.yaml", extends="../middle.yaml")
    check_bad(capsys, tmp_path, top, "population.top_tier_quantile", "2", "between 0 and 1", reported_in=parent)


@pytest.mark.parametrize("target", ["missing.yaml", "../nowhere/parent.yaml"])
def test_a_missing_extends_target_is_reported(capsys, tmp_path, target):
    file = child(tmp_path, {}, extends=target)
    check_bad(capsys, tmp_path, file, "extends", repr(target), "does not exist", "relative to this file's folder")


def test_extends_naming_a_folder_is_reported(capsys, tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    file = child(tmp_path, {}, extends="folder.yaml")
    check_bad(capsys, tmp_path, file, "extends", "'folder.yaml'", "is a folder")


@pytest.mark.parametrize("target", [".", "/etc/passwd", "notes.txt"])
def test_extends_naming_a_file_that_is_not_yaml_is_refused_without_reading_it(capsys, tmp_path, target):
    file = child(tmp_path, {}, extends=target)
    line = check_bad(capsys, tmp_path, file, "extends", repr(target), "ending in .yaml or .yml")
    assert ":0:0:" not in line  # nothing of the file is read or echoed


@pytest.mark.parametrize("target", [["a.yaml"], 5, ""])
def test_extends_that_is_not_a_path_is_reported(capsys, tmp_path, target):
    file = child(tmp_path, {}, extends=target)
    check_bad(capsys, tmp_path, file, "extends", repr(target), "must be the path of a scenario file")


def test_a_scenario_extending_itself_is_reported(capsys, tmp_path):
    file = child(tmp_path, {}, name="self.yaml", extends="self.yaml")
    check_bad(capsys, tmp_path, file, "extends", "'self.yaml'", "circular extends")


def test_a_circle_of_two_files_is_reported(capsys, tmp_path):
    a = child(tmp_path, {}, name="a.yaml", extends="b.yaml")
    b = child(tmp_path, {}, name="b.yaml", extends="a.yaml")
    line = check_bad(capsys, tmp_path, a, "extends", "'a.yaml'", "circular extends", reported_in=b)
    assert str(a) in line and str(b) in line


def test_a_yaml_error_in_a_parent_names_the_parent_with_its_line(capsys, tmp_path, parent):
    parent.write_text(parent.read_text().replace("  step_months: 3", "  step_months: [3", 1))
    file = child(tmp_path, {})
    line = check_bad(capsys, tmp_path, file, "", None, "not valid YAML", reported_in=parent)
    assert re.search(r": line \d+, column \d+: ", line), line


# --------------------------------------------------------------------------------------------------------------
# Files that are not scenarios


def test_a_yaml_syntax_error_gives_line_and_column(capsys, tmp_path):
    file = tmp_path / "syntax.yaml"
    file.write_text("name: x\nrun: {start: 2019-01\n  end: 2035-01\nregions: {}\n")
    check_bad(capsys, tmp_path, file, "line 3, column 6", None, "not valid YAML")


def test_bad_indentation_gives_line_and_column(capsys, tmp_path):
    file = tmp_path / "indent.yaml"
    file.write_text("name: x\n  description: y\n")
    check_bad(capsys, tmp_path, file, "line 2, column 14", None, "not valid YAML")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_is_reported(capsys, tmp_path, text):
    file = tmp_path / "empty.yaml"
    file.write_text(text)
    check_bad(capsys, tmp_path, file, "", None, "file is empty")


@pytest.mark.parametrize(("text", "kind"), [("- name: x\n- run: y\n", "not a list"),
                                           ("just some words\n", "not a single value")])
def test_a_file_that_is_not_a_mapping_is_reported_without_echoing_it(capsys, tmp_path, text, kind):
    file = tmp_path / "list.yaml"
    file.write_text(text)
    line = check_bad(capsys, tmp_path, file, "", None, "must be a mapping of keys (name:, run:", kind)
    assert "some words" not in line and "'x'" not in line


def test_a_binary_file_is_reported(capsys, tmp_path):
    file = tmp_path / "binary.yaml"
    file.write_bytes(b"\xff\xfe\x00\x01name")
    check_bad(capsys, tmp_path, file, "", None, "not a text file")


def test_a_missing_scenario_file_is_reported(capsys, tmp_path):
    check_bad(capsys, tmp_path, tmp_path / "nope.yaml", "", None, "file not found")


def test_a_folder_given_as_the_scenario_is_reported(capsys, tmp_path):
    check_bad(capsys, tmp_path, tmp_path, "", None, "is a folder")


def test_validate_reports_each_bad_file_and_still_checks_the_good_ones(capsys, tmp_path):
    bad = write(tmp_path / "bad.yaml", edited(baseline_data(), {"run.seed": -1}))
    code, out, err = invoke(capsys, "validate", bad, BASELINE, tmp_path / "missing.yaml")
    assert code == 2
    assert f"ok: {BASELINE}" in out
    assert line_for(err, bad, "run.seed").endswith("(got -1)")
    line_for(err, tmp_path / "missing.yaml", "")


# --------------------------------------------------------------------------------------------------------------
# Command-line options


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--researchers", "0", ["--researchers", "between 100 and 50,000,000", "(got 0)"]),
    ("--researchers", "99", ["--researchers", "between 100 and 50,000,000", "(got 99)"]),
    ("--researchers", "lots", ["--researchers", "whole number", "'lots'"]),
    ("--seed", "-1", ["--seed", "0 or more", "(got -1)"]),
    ("--seed", "1.5", ["--seed", "whole number", "'1.5'"]),
    ("--replicates", "0", ["--replicates", "at least 1", "(got 0)"]),
    ("--replicates", "1000000", ["--replicates", "between 1 and 100,000", "(got 1000000)"]),
    ("--format", "xml", ["--format", "parquet, csv", "'xml'"]),
    ("--format", "csv,xls", ["--format", "parquet, csv", "'csv,xls'"]),
])
def test_bad_run_options_are_reported(capsys, tmp_path, option, value, expected):
    out_dir = tmp_path / "out"
    code, _, err = invoke(capsys, "run", BASELINE, option, value, "--out", out_dir, "--quiet")
    assert code == 2
    lines = [line for line in err.splitlines() if option in line and "error" in line]
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0], lines[0]
    assert not out_dir.exists()


def test_an_unknown_option_or_command_is_reported(capsys):
    code, _, err = invoke(capsys, "run", BASELINE, "--sed", "3")
    assert code == 2 and "--sed" in err
    code, _, err = invoke(capsys, "simulate", BASELINE)
    assert code == 2 and "simulate" in err


def test_an_out_path_that_is_a_file_is_reported(capsys, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    code, _, err = invoke(capsys, "run", BASELINE, "--out", taken, "--quiet", "--researchers", "100")
    assert code == 2 and f"--out {taken}" in err


# --------------------------------------------------------------------------------------------------------------
# Sweeps over the whole baseline: no key and no number is special


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path, node


def _sections(node, path=()):
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from _sections(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _sections(value, (*path, i))


def _text(path) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if i else str(k)) for i, k in enumerate(path))


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _problems(data) -> list[Problem]:
    """Return the problems found in ``data`` (validated as plain data: fast, and the same key-path mapping)."""
    try:
        scenario_from_dict(data, source="sweep")
    except ScenarioError as exc:
        assert exc.problems and all(p.file == "sweep" for p in exc.problems)
        return exc.problems
    return []


def test_text_in_place_of_any_number_is_reported_at_its_key():
    base = baseline_data()
    numbers = [p for p, v in _leaves(base) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert len(numbers) > 200
    for path in numbers:
        data = copy.deepcopy(base)
        _set(data, path, "abc")
        (problem,) = _problems(data)
        assert problem.path == _text(path), (problem.path, _text(path))
        assert str(problem).startswith(f"sweep: {_text(path)}: must be a") and str(problem).endswith("(got 'abc')")


def test_true_in_place_of_any_number_is_reported_at_its_key():
    base = baseline_data()
    numbers = [p for p, v in _leaves(base) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    for path in numbers:
        data = copy.deepcopy(base)
        _set(data, path, True)
        (problem,) = _problems(data)
        assert problem.path == _text(path) and str(problem).endswith("(got true)"), str(problem)


def test_an_extra_key_in_any_section_is_reported_at_that_key():
    base = baseline_data()
    for path in _sections(base):
        data = copy.deepcopy(base)
        _set(data, (*path, "zzz_extra"), 1) if path else data.update(zzz_extra=1)
        key = _text((*path, "zzz_extra"))
        assert key in [p.path for p in _problems(data)], key


def test_removing_any_key_is_accepted_or_reported_at_a_key_path():
    base = baseline_data()
    for path, _ in [*_leaves(base), *((p, None) for p in _sections(base) if p)]:
        data = copy.deepcopy(base)
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        for problem in _problems(data):
            assert problem.path and problem.message, str(problem)


# --------------------------------------------------------------------------------------------------------------
# The shipped scenarios are good


@pytest.mark.parametrize("file", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates(capsys, file):
    code, out, err = invoke(capsys, "validate", file)
    assert code == 0, err
    assert out.startswith(f"ok: {file}: ")


def test_validate_checks_experiment_and_calibration_files_as_what_they_are(capsys, tmp_path):
    root = SCENARIOS.parent
    code, out, err = invoke(capsys, "validate", str(root / "experiments" / "visa_policy_lhs.yaml"),
                            str(root / "experiments" / "calibration" / "baseline.yaml"))
    assert code == 0 and "experiment 'visa_policy_lhs'" in out and "calibration 'baseline'" in out, err
    bad = tmp_path / "sweep.yaml"
    bad.write_text(f"name: x\nscenario: {root / 'scenarios' / 'baseline.yaml'}\nreplicates: 0\n")
    code, out, err = invoke(capsys, "validate", str(bad))
    assert code == 2 and f"{bad}: replicates: must be between 1" in err and "Traceback" not in err
