"""The review's hostile spec files (rows 1-10, 16-34, 36 and 61 of /work/shared/reviews/hostile-inputs.md), each an
edit of the bundled heart_disease spec run through `synth-pipeline validate-spec`: the exit code, a typed message
that names the key path (or, for a file that is not a spec at all, the line), no traceback, and fast. Row 25 (a
broken spec beside good ones in the DAG folder) is `tests/test_dags.py::test_broken_specs_get_no_dag_...`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.cli import main as cli
from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.generators import make_generator
from synth_pipeline.privacy.accounting import ORDERS, RdpCurve, rho_for_budget
from synth_pipeline.spec import CategoricalColumn, NumericColumn
from synth_pipeline.spec.feasibility import network_weights, smallest_generator_epsilon
from synth_pipeline.spec.limits import ACCOUNTANT_MAX_ORDER, MIN_GENERATOR_RHO, MIN_MECHANISM_EPSILON
from testsupport import copy_project

Edit = Callable[[str], "str | bytes"]
SCHEMA_SEX = "sex:             {type: categorical, categories: [female, male]}"
PRIVACY = "privacy: {epsilon: 2.0, delta: 1.0e-5, min_individuals: 900}"
ESTIMATION = "privacy: {epsilon: 2.0, delta: 1.0e-5, min_individuals: 900, estimation: {epsilon: 0.1, delta: 1.0e-7}}"
BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(9))


def replace(*pairs: tuple[str, str]) -> Edit:
    def edit(text: str) -> str:
        for old, new in pairs:
            assert old in text, f"the bundled spec changed: {old!r} not found"
            text = text.replace(old, new, 1)
        return text
    return edit


def prepend(prefix: str, then: Edit = lambda text: text) -> Edit:
    return lambda text: prefix + then(text)


def constant(content: str | bytes) -> Edit:
    return lambda _text: content


# (row, what, edit of heart_disease.yaml, exit code of validate-spec, what stderr (or stdout for 0) must contain)
CASES: list[tuple[str, str, Edit, int, str]] = [
    ("1", "billion laughs under unknown keys", prepend(BOMB), 1,
     "not valid YAML: expands to more than 200,000 values once its aliases are resolved"),
    ("2", "billion laughs in a validated field", prepend(BOMB, replace(("description:", "description: *l8\nx:"))), 1,
     "not valid YAML: expands to more than 200,000 values once its aliases are resolved"),
    ("3", "10 MB description", replace(("description: ", "description: " + "x" * 10_000_000)), 1,
     "larger than 262,144 bytes"),
    ("4", "unknown key", replace(("{epsilon: 2.0", "{epsilonn: 2.0, epsilon: 2.0")), 1,
     "privacy.epsilonn: unknown key"),
    ("5", "wrong type", replace(("age:             {type: integer, min: 18, max: 100",
                                 "age:             {type: integer, min: 18, max: ninety")), 1,
     "schema.age.max: expected a number, got 'ninety'"),
    ("6", "negative epsilon", replace(("epsilon: 2.0", "epsilon: -1")), 1,
     "privacy.epsilon: input should be greater than or equal to 0.01, got -1"),
    ("7", "infinite epsilon", replace(("epsilon: 2.0", "epsilon: .inf")), 1,
     "privacy.epsilon: input should be a finite number, got inf"),
    ("8", "NaN epsilon", replace(("epsilon: 2.0", "epsilon: .nan")), 1,
     "privacy.epsilon: input should be a finite number, got nan"),
    ("8", "NaN delta", replace(("delta: 1.0e-5", "delta: .nan")), 1,
     "privacy.delta: input should be a finite number, got nan"),
    # Row 9 (delta >= 1/min_individuals) is valid as a spec: charge_budget's pre-flight refuses it before charging
    # (tests/privacy/test_privacy_budget_steps.py), with the same message whatever the true table size.
    ("9", "delta at least 1/n", replace(("delta: 1.0e-5", "delta: 0.01")), 0, ": OK"),
    ("10", "path in the name", replace(("name: heart_disease", "name: ../../x/evil")), 1,
     "name: string should match pattern"),
    ("16", "SQL in a table name", replace(("{format: csv, path: data/heart_disease/processed.va.data,          "
                                           "options: *heart_csv}",
                                           "{format: sql, url: 'sqlite://', table: 'heart; DROP TABLE victim'}")), 1,
     "sources.va"),
    ("17", "duplicate key", replace(("{epsilon: 2.0", "{epsilon: 2.0, epsilon: 1.0")), 1, "duplicate key 'epsilon'"),
    ("18", "min above max", replace(("min: 18, max: 100", "min: 100, max: 18")), 1,
     "schema.age: min (100.0) is greater than max (18.0)"),
    ("19", "duplicate categories", replace(("categories: [female, male]", "categories: [female, female]")), 1,
     "schema.sex: categories contain duplicates"),
    ("20", "100,002 categories", replace(("categories: [female, male]",
                                          f"categories: [{', '.join(f'c{i}' for i in range(100_002))}]")), 1,
     "larger than 262,144 bytes"),
    ("20", "more categories than the generator models",
     replace(("categories: [female, male]", f"categories: [{', '.join(f'c{i}' for i in range(1001))}]")), 1,
     "schema.sex.categories: 1001 levels, more than generator.params.max_levels (1000)"),
    ("21", "unsorted bin_edges", replace(("max: 700, nullable: true", "max: 700, bin_edges: [80, 300, 200, 700], "
                                                                      "nullable: true")), 1,
     "schema.chol: bin_edges must be strictly increasing"),
    ("22", "python tag", replace(("description: Synthetic", "description: !!python/object/apply:os.system "
                                                            "['touch hostile-spec-ran']\nx: Synthetic")), 1,
     "not valid YAML: could not determine a constructor for the tag"),
    ("23", "100,000-deep nesting", prepend("x: " + "[" * 100_000 + "]" * 100_000 + "\n"), 1,
     "not valid YAML: nested deeper than 32 levels"),
    ("23", "deep nesting through aliases", prepend("".join(f"c{i}: &c{i} [{f'*c{i - 1}' if i else 1}]\n"
                                                           for i in range(40))), 1,
     "not valid YAML: nested deeper than 32 levels once its aliases are resolved"),
    ("23", "recursive alias", replace(("tags: [health, multi-source]", "tags: &t [health, *t]")), 1,
     "not valid YAML: a recursive alias"),
    ("24", "one latin-1 byte", lambda text: text.replace("Synthetic", "Synth\xe9tic", 1).encode("latin-1"), 1,
     "not valid UTF-8 text (byte offset"),
    ("26", "epsilon 1e-300", replace(("epsilon: 2.0", "epsilon: 1.0e-300")), 1,
     "privacy.epsilon: input should be greater than or equal to 0.01"),
    ("26", "a generator share near 0", replace(("epsilon: 2.0", "epsilon: 2.0, decision_epsilon: 1.99995")), 1,
     "privacy: decision_epsilon (1.99995) and estimation.epsilon (0) together must stay below epsilon (2.0) by at "
     "least 0.0001"),
    ("27", "epsilon 1e308", replace(("epsilon: 2.0", "epsilon: 1.0e+308")), 1,
     "privacy.epsilon: input should be less than or equal to 20"),
    ("28", "retention beyond the calendar", replace(("retention_days: 180", "retention_days: 1000000000")), 1,
     "retention_days: input should be less than or equal to 3653"),
    ("29", "approval never times out", replace(("timeout_hours: 72", "timeout_hours: .inf")), 1,
     "approval.timeout_hours: input should be a finite number"),
    ("30", "10^12 rows", replace(("formats: [parquet, csv]}", "formats: [parquet, csv], rows: 1000000000000}")), 1,
     "publish.rows: input should be less than or equal to 10000000"),
    ("31", "estimation delta 0", replace((SCHEMA_SEX, "sex:             {type: categorical}"),
                                         (PRIVACY, ESTIMATION.replace("delta: 1.0e-7", "delta: 0"))), 1,
     "privacy.estimation.delta: must be above 0 to estimate the categories of sex"),
    ("32", "max_categories 10^9", replace((SCHEMA_SEX, "sex:             {type: categorical, max_categories: "
                                                       "1000000000}"), (PRIVACY, ESTIMATION)), 1,
     "schema.sex.max_categories: input should be less than or equal to 100000"),
    ("33", "numeric_bins 1e9 and rounds -1", replace(("numeric_bins: 16", "numeric_bins: 1000000000, rounds: -1")), 1,
     "generator.params.numeric_bins: Input should be less than or equal to 1000"),
    ("33", "numeric_bins 1e9 and rounds -1 (the second)", replace(("numeric_bins: 16",
                                                                   "numeric_bins: 1000000000, rounds: -1")), 1,
     "generator.params.rounds: Input should be greater than or equal to 2"),
    ("34", "eight-field cron", replace(("schedule: null", 'schedule: "* * * * * * * *"')), 1,
     "schedule: expected one of Airflow's presets"),
    ("36", "name is not the file name", replace(("name: heart_disease", "name: other_release")), 1,
     "name: expected the file name 'heart_disease', got 'other_release'"),
    ("36", "a list at the top level", constant("- name: heart_disease\n"), 1, "expected a mapping at the top level"),
    ("36", "an empty file", constant(""), 1, "expected a mapping at the top level"),
    ("61", "estimated categories that reject", replace((SCHEMA_SEX, "sex:             {type: categorical, "
                                                                    "out_of_domain: reject}"), (PRIVACY, ESTIMATION)),
     1, "schema.sex.out_of_domain: 'reject' cannot go with categories estimated under DP"),
    ("61", "estimated categories by default", replace((SCHEMA_SEX, "sex:             {type: categorical}"),
                                                      (PRIVACY, ESTIMATION)), 0, ": OK"),
]


def _write_case(root: Path, edit: Edit) -> Path:
    spec = root / "releases" / "heart_disease.yaml"
    content = edit(spec.read_text())
    spec.write_bytes(content if isinstance(content, bytes) else content.encode())
    return spec


@pytest.fixture
def hostile_project(tmp_path, monkeypatch) -> Path:
    root = copy_project(tmp_path)
    monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # row 22 would leave its file here, had its tag run
    return root


@pytest.mark.timeout(60)
@pytest.mark.parametrize("edit,code,expected", [c[2:] for c in CASES], ids=[f"row{c[0]}-{c[1]}" for c in CASES])
def test_hostile_spec_is_refused_with_a_typed_message(hostile_project, capsys, edit, code, expected):
    spec = _write_case(hostile_project, edit)
    started = time.perf_counter()
    assert cli(["validate-spec", str(spec)]) == code
    assert time.perf_counter() - started < 10, "validation must stay fast whatever the file holds"
    out, err = capsys.readouterr()
    shown = err if code else out
    assert expected in shown, shown
    assert "Traceback" not in out + err
    if code:
        assert all(line.startswith(f"{spec}: ") for line in err.splitlines()), err
        assert len(err) < 5_000, "messages quote values in excerpts only"
    assert not (hostile_project.parent / "hostile-spec-ran").exists()


@pytest.mark.parametrize("row,edit", [(c[0], c[2]) for c in CASES if c[0] in ("26", "61") and c[3]],
                         ids=[f"row{c[0]}-{c[1]}" for c in CASES if c[0] in ("26", "61") and c[3]])
def test_a_spec_that_cannot_succeed_is_refused_before_any_charge(hostile_project, capsys, row, edit):
    """Rows 26 and 61 burned budget on a run that could not succeed: now the spec is refused by every command that
    loads it, charging steps included, before the ledger is opened."""
    spec = _write_case(hostile_project, edit)
    for step in ("charge_budget", "train"):
        assert cli(["run-step", step, str(spec), "--run-id", "hostile1"]) == 1
    assert "Traceback" not in capsys.readouterr().err
    state = hostile_project.parent / "state"
    assert not state.exists() or not any(state.rglob("*")), "nothing may be written, the ledger least of all"


@pytest.mark.slow  # the installed command in subprocesses: about 3 s
def test_exit_codes_of_the_installed_command(hostile_project):
    """The console script itself, as the review ran it: 0 valid, 1 invalid spec, no traceback, quickly."""
    good = hostile_project / "releases" / "heart_disease.yaml"
    command = Path(sys.executable).parent / "synth-pipeline"
    assert subprocess.run([command, "validate-spec", good], capture_output=True, timeout=60).returncode == 0
    spec = _write_case(hostile_project, prepend(BOMB, replace(("description:", "description: *l8\nx:"))))
    done = subprocess.run([command, "validate-spec", spec], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{spec}: not valid YAML: expands to more than 200,000 values")


# The extremes the validator accepts for AIM: the smallest shares, the most rounds (so the smallest per-round budget).
AIM_EXTREMES = [{"one_way_share": 0.01, "selection_share": 0.01, "rounds": 10_000, "iterations": 0,
                 "final_iterations": 0},
                {"one_way_share": 0.99, "selection_share": 0.99, "rounds": 2}]


@pytest.mark.parametrize("delta", [5e-324, 1e-300, 1e-5, 0.5])
@pytest.mark.parametrize("params", AIM_EXTREMES, ids=["smallest-shares", "largest-shares"])
def test_the_smallest_accepted_budget_never_divides_by_zero(delta, params):
    """Row 26: epsilon 1e-300 passed validation and AIM divided by zero after the charge was spent. Now the spec's
    floor for the generator's share is one the accountant can spend, and AIM trains at it on every accepted delta;
    DP-SGD refuses it in its pre-flight (before any charge) with a typed error."""
    assert max(ORDERS) == ACCOUNTANT_MAX_ORDER
    epsilon = max(MIN_MECHANISM_EPSILON, smallest_generator_epsilon(delta))
    assert rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero()) >= MIN_GENERATOR_RHO
    schema = {"a": CategoricalColumn(type="categorical", categories=("x", "y")),
              "b": NumericColumn(type="integer", min=0, max=9)}
    table = pd.DataFrame({"a": ["x", "y"] * 10, "b": list(range(10)) * 2})
    aim = make_generator("aim", params)
    model = aim.fit(table, aim.build_domain(schema), epsilon=epsilon, delta=delta, units=None,
                    rng=np.random.default_rng(0))
    assert model.sample(5, np.random.default_rng(1)).shape == (5, 2)
    network = make_generator("dpsgd_autoregressive", {"count_share": 0.001, "epochs": 1, "batch_size": 2})
    with pytest.raises(PrivacyConfigError):  # the noise it would need, or delta above 1/n
        network.check_feasible(network.build_domain(schema), min_units=20, epsilon=epsilon, delta=delta)


def test_a_share_below_the_accountants_floor_is_refused_by_validation_and_by_the_generator(hostile_project, capsys):
    spec = _write_case(hostile_project, replace(("epsilon: 2.0, delta: 1.0e-5", "epsilon: 0.01, delta: 1.0e-30")))
    assert cli(["validate-spec", str(spec)]) == 1
    assert "privacy.epsilon: the generator's share (epsilon 0.0095 at delta 1e-30, after the release decision) is " \
           "below 0.0169" in capsys.readouterr().err
    aim = make_generator("aim", {})
    domain = aim.build_domain({"b": NumericColumn(type="integer", min=0, max=9)})
    with pytest.raises(PrivacyConfigError, match="below the least the accountant can spend"):
        aim.check_feasible(domain, min_units=None, epsilon=0.0095, delta=1e-30)


@pytest.mark.parametrize("sizes,embedding_dim,hidden", [((3, 5, 10), 4, 8), ((2,), 16, 128), ((100, 7, 20, 3), 16, 64)])
def test_the_networks_size_bound_is_the_networks_size(sizes, embedding_dim, hidden):
    """Validation refuses a DP-SGD network above MAX_NETWORK_WEIGHTS from the spec alone: its count must be exact."""
    from synth_pipeline.generators.autoregressive import AutoregressiveNet

    net = AutoregressiveNet(sizes, embedding_dim, hidden)
    assert network_weights(list(sizes), embedding_dim, hidden) == sum(p.numel() for p in net.parameters())
