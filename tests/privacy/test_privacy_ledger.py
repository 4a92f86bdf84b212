"""The budget ledger on real SQLite and real PostgreSQL (a throwaway database per test): DESIGN.md invariant 3.
Every fit of a run is a charge of its own; `reserve` stays idempotent."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from synth_pipeline.errors import BudgetExceeded, ConfigError, LedgerError
from synth_pipeline.privacy.ledger import BudgetLedger, LifetimeBudget, create_ledger_engine, open_ledger

HASH = "a" * 64
OTHER_HASH = "b" * 64
BUDGETS = {"census": LifetimeBudget(epsilon=3.0, delta=3e-5), "clinic": LifetimeBudget(epsilon=1.0, delta=1e-5)}


@pytest.fixture
def ledger(url):
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as opened:
        yield opened


def charge(ledger: BudgetLedger, run_id: str, epsilon: float, delta: float = 1e-6, *, dataset: str = "census",
           spec_hash: str = HASH, release: str = "census_release"):
    return ledger.reserve(dataset=dataset, release=release, run_id=run_id, epsilon=epsilon, delta=delta,
                          mechanism="generator=test", spec_hash=spec_hash)


def key(run_id: str, dataset: str = "census") -> dict:
    return {"dataset": dataset, "release": "census_release", "run_id": run_id}


def standing(ledger: BudgetLedger, dataset: str = "census"):
    [result] = ledger.summary(dataset)
    return result


# (charges before: (epsilon, delta, what happened to it), the request, whether it fits). Lifetime: 3.0, 3e-5.
CASES = [
    ("fits in an empty ledger", [], (3.0, 3e-5), True),
    ("epsilon over the lifetime alone", [], (3.1, 1e-6), False),
    ("delta over the lifetime alone", [], (0.1, 3.1e-5), False),
    ("exactly the remaining epsilon", [(1.0, 1e-6, "spent"), (1.5, 1e-6, "reserved")], (0.5, 1e-6), True),
    ("decimal epsilons that fill it exactly", [(0.1, 0, "spent"), (0.2, 0, "spent"), (2.4, 0, "reserved")], (0.3, 0), True),
    ("spent counts", [(2.5, 1e-6, "spent")], (0.6, 1e-6), False),
    ("reserved counts", [(2.5, 1e-6, "reserved")], (0.6, 1e-6), False),
    ("released does not count", [(2.5, 1e-6, "released")], (3.0, 1e-6), True),
    ("delta adds up across runs", [(0.1, 2e-5, "spent")], (0.1, 1.1e-5), False),
]


@pytest.mark.parametrize("_name, before, request_, fits", CASES, ids=[case[0] for case in CASES])
def test_a_charge_is_refused_past_the_lifetime(ledger, _name, before, request_, fits):
    for index, (epsilon, delta, fate) in enumerate(before):
        charge(ledger, f"before-{index}", epsilon, delta)
        if fate == "spent":
            ledger.begin_fit(**key(f"before-{index}"), spec_hash=HASH)
        elif fate == "released":
            ledger.release_unspent(**key(f"before-{index}"))
    previous = standing(ledger)
    if fits:
        assert charge(ledger, "new", *request_).status == "reserved"
        assert standing(ledger).reserved_epsilon == pytest.approx(previous.reserved_epsilon + request_[0])
    else:
        with pytest.raises(BudgetExceeded) as refused:
            charge(ledger, "new", *request_)
        after = standing(ledger)
        assert (after.spent_epsilon, after.reserved_epsilon, len(after.entries)) == (
            previous.spent_epsilon, previous.reserved_epsilon, len(previous.entries))
        message = str(refused.value)
        assert "nothing was charged" in message and "'census'" in message and "'new'" in message
        assert "spent" in message and "reserved" in message and "requested" in message and "lifetime" in message


def test_the_refusal_names_the_figures(ledger):
    charge(ledger, "first", 2.0)
    ledger.begin_fit(**key("first"), spec_hash=HASH)
    charge(ledger, "second", 0.5)
    with pytest.raises(BudgetExceeded, match=r"epsilon: spent 2 \+ reserved 0.5 \+ requested 1 = 3.5 > lifetime 3 "
                                             r"\(remaining 0.5\)"):
        charge(ledger, "third", 1.0)


def test_a_retried_charge_is_not_charged_twice(ledger):
    first = charge(ledger, "run-1", 1.0)
    again = charge(ledger, "run-1", 1.0)
    assert again.id == first.id and again.status == "reserved"
    assert standing(ledger).reserved_epsilon == 1.0 and len(standing(ledger).entries) == 1
    ledger.begin_fit(**key("run-1"), spec_hash=HASH)
    # A retry after training started finds the spent charge and leaves it alone, even with the budget now full.
    charge(ledger, "run-2", 2.0)
    assert charge(ledger, "run-1", 1.0).status == "spent"
    assert (standing(ledger).spent_epsilon, standing(ledger).reserved_epsilon) == (1.0, 2.0)


def test_the_unique_constraint_backs_idempotency(ledger, url):
    charge(ledger, "run-1", 1.0)
    engine = sa.create_engine(url)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            row = connection.execute(sa.text("SELECT * FROM privacy_budget_charges")).mappings().one()
            connection.execute(sa.text(
                "INSERT INTO privacy_budget_charges (dataset, release, run_id, attempt, epsilon, delta, mechanism, "
                "status, spec_hash, created_at, updated_at) VALUES (:dataset, :release, :run_id, :attempt, :epsilon, "
                ":delta, :mechanism, 'reserved', :spec_hash, :created_at, :updated_at)"), dict(row))
    finally:
        engine.dispose()


MISMATCHES = [
    ("another epsilon", {"epsilon": 1.5}),
    ("another delta", {"delta": 2e-6}),
    ("another spec", {"spec_hash": OTHER_HASH}),
]


@pytest.mark.parametrize("_name, change", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_a_retry_that_asks_for_something_else_is_an_error(ledger, _name, change):
    charge(ledger, "run-1", 1.0)
    arguments = {"epsilon": 1.0, "delta": 1e-6, "spec_hash": HASH, **change}
    with pytest.raises(LedgerError, match="already holds a charge"):
        charge(ledger, "run-1", arguments["epsilon"], arguments["delta"], spec_hash=arguments["spec_hash"])
    assert standing(ledger).reserved_epsilon == 1.0


def test_failed_before_training_charges_nothing_and_trained_keeps_its_charge(ledger):
    charge(ledger, "failed-early", 1.0)
    settled = ledger.release_unspent(**key("failed-early"))
    assert settled.action == "released" and settled.entry.status == "released"
    assert ledger.release_unspent(**key("failed-early")).action == "already_released"

    charge(ledger, "trained-then-rejected", 1.0)
    assert ledger.begin_fit(**key("trained-then-rejected"), spec_hash=HASH).status == "spent"
    kept = ledger.release_unspent(**key("trained-then-rejected"))
    assert kept.action == "kept_spent" and kept.entry.status == "spent"

    assert ledger.release_unspent(**key("never-charged")).action == "no_entry"
    after = standing(ledger)
    assert (after.spent_epsilon, after.reserved_epsilon, after.remaining_epsilon) == (1.0, 0.0, 2.0)
    assert [entry.status for entry in after.entries] == ["released", "spent"]


def test_a_released_charge_is_reserved_again_under_the_same_check(ledger):
    first = charge(ledger, "retried", 2.0)
    ledger.release_unspent(**key("retried"))
    charge(ledger, "meanwhile", 1.5)
    with pytest.raises(BudgetExceeded):
        charge(ledger, "retried", 2.0)
    ledger.release_unspent(**key("meanwhile"))
    again = charge(ledger, "retried", 2.0)
    assert again.id == first.id and again.status == "reserved"


MARK_SPENT_REFUSALS = [
    ("no reservation", lambda ledger: None, HASH, "has no reservation"),
    ("released reservation", lambda ledger: (charge(ledger, "r", 1.0), ledger.release_unspent(**key("r"))), HASH,
     "was released"),
    ("another spec", lambda ledger: charge(ledger, "r", 1.0), OTHER_HASH, "trains with spec"),
]


@pytest.mark.parametrize("method", ["begin_fit", "plan_fit"])
@pytest.mark.parametrize("_name, prepare, spec_hash, message", MARK_SPENT_REFUSALS, ids=[m[0] for m in MARK_SPENT_REFUSALS])
def test_training_cannot_start_without_a_matching_reservation(ledger, method, _name, prepare, spec_hash, message):
    prepare(ledger)
    before = standing(ledger).entries
    with pytest.raises(LedgerError, match=message):
        getattr(ledger, method)(**key("r"), spec_hash=spec_hash)
    assert standing(ledger).entries == before


@pytest.mark.parametrize("fits", [1, 2, 3])
def test_every_fit_of_a_run_is_charged(ledger, fits):
    reserved = charge(ledger, "r", 1.0)
    spent = [ledger.begin_fit(**key("r"), spec_hash=HASH) for _ in range(fits)]
    assert [(e.attempt, e.status, e.epsilon) for e in spent] == [(n, "spent", 1.0) for n in range(1, fits + 1)]
    assert spent[0].id == reserved.id  # the first fit spends the reservation itself; later ones add rows
    after = standing(ledger)
    assert (after.spent_epsilon, after.spent_delta, after.reserved_epsilon) == (
        pytest.approx(fits * 1.0), pytest.approx(fits * 1e-6), 0.0)
    assert [(e.run_id, e.attempt, e.status, e.mechanism, e.spec_hash) for e in after.entries] == [
        ("r", n, "spent", "generator=test", HASH) for n in range(1, fits + 1)]
    assert len({e.id for e in after.entries}) == fits


def test_a_retried_charge_after_refits_charges_nothing_and_settle_keeps_them(ledger):
    charge(ledger, "r", 1.0)
    ledger.begin_fit(**key("r"), spec_hash=HASH)
    ledger.begin_fit(**key("r"), spec_hash=HASH)
    retried = charge(ledger, "r", 1.0)  # charge_budget retried: reserves only, and only once per run
    assert (retried.attempt, retried.status) == (2, "spent")
    settled = ledger.release_unspent(**key("r"))
    assert (settled.action, settled.entry.attempt) == ("kept_spent", 2)
    after = standing(ledger)
    assert (len(after.entries), after.spent_epsilon, after.reserved_epsilon) == (2, 2.0, 0.0)


# (other runs' charges: (epsilon, spent?), this run's epsilon, fits that pass, the refusal's figures). Lifetime 3.0.
REFIT_LIMITS = [
    ("alone: three fits fill it", [], 1.0, 3, "spent 3 + reserved 0 + requested 1 = 4 > lifetime 3"),
    ("another run's reservation counts", [(1.0, False)], 1.0, 2, "spent 2 + reserved 1 + requested 1 = 4"),
    ("another run's spend counts", [(1.5, True)], 1.5, 1, "spent 3 + reserved 0 + requested 1.5 = 4.5"),
]


@pytest.mark.parametrize("_name, others, epsilon, passing, figures", REFIT_LIMITS, ids=[r[0] for r in REFIT_LIMITS])
def test_a_fit_past_the_lifetime_is_refused_before_it_reads_data(ledger, _name, others, epsilon, passing, figures):
    for index, (other_epsilon, spent) in enumerate(others):
        charge(ledger, f"other-{index}", other_epsilon)
        if spent:
            ledger.begin_fit(**key(f"other-{index}"), spec_hash=HASH)
    charge(ledger, "r", epsilon)
    for _ in range(passing):
        ledger.begin_fit(**key("r"), spec_hash=HASH)
    before = standing(ledger)
    for method in ("plan_fit", "begin_fit"):
        with pytest.raises(BudgetExceeded) as refused:
            getattr(ledger, method)(**key("r"), spec_hash=HASH)
        message = str(refused.value)
        assert f"run 'r', fit attempt {passing + 1}" in message and figures in message
        assert "nothing was charged" in message and "every fit reads the data anew" in message
    after = standing(ledger)
    assert (after.entries, after.spent_epsilon) == (before.entries, before.spent_epsilon)


def test_plans_run_the_checks_and_write_nothing(ledger):
    fresh = ledger.plan_reserve(**key("r"), epsilon=1.0, delta=1e-6, spec_hash=HASH)
    assert (fresh.attempt, fresh.charges, fresh.epsilon) == (1, True, 1.0) and "reserve" in fresh.action
    assert standing(ledger).entries == () and standing(ledger).reserved_epsilon == 0.0
    charge(ledger, "r", 1.0)
    retried = ledger.plan_reserve(**key("r"), epsilon=1.0, delta=1e-6, spec_hash=HASH)
    assert (retried.attempt, retried.charges) == (1, False) and "already holds a reserved charge" in retried.action
    first_fit = ledger.plan_fit(**key("r"), spec_hash=HASH)
    assert (first_fit.attempt, first_fit.charges) == (1, True) and "reservation" in first_fit.action
    assert [e.status for e in standing(ledger).entries] == ["reserved"]
    ledger.begin_fit(**key("r"), spec_hash=HASH)
    refit = ledger.plan_fit(**key("r"), spec_hash=HASH)
    assert (refit.attempt, refit.epsilon, refit.delta) == (2, 1.0, 1e-6) and "new spent entry" in refit.action
    assert len(standing(ledger).entries) == 1 and standing(ledger).spent_epsilon == 1.0
    with pytest.raises(BudgetExceeded):
        ledger.plan_reserve(**key("big"), epsilon=2.5, delta=1e-6, spec_hash=HASH)
    with pytest.raises(LedgerError, match="already holds a charge"):
        ledger.plan_reserve(**key("r"), epsilon=0.5, delta=1e-6, spec_hash=HASH)


def test_an_unknown_dataset_fails_closed(ledger):
    with pytest.raises(ConfigError, match="'nowhere' has no lifetime privacy budget"):
        charge(ledger, "r", 0.1, dataset="nowhere")
    with pytest.raises(ConfigError, match="'nowhere'"):
        ledger.summary("nowhere")


@pytest.mark.parametrize("epsilon, delta", [(0.0, 1e-6), (-1.0, 1e-6), (float("inf"), 1e-6), (float("nan"), 1e-6),
                                            (1.0, 1.0), (1.0, -1e-6)])
def test_nonsense_privacy_parameters_are_refused(ledger, epsilon, delta):
    with pytest.raises(LedgerError, match="epsilon must be finite"):
        charge(ledger, "r", epsilon, delta)
    assert standing(ledger).entries == ()


def test_summary_lists_datasets_and_a_lowered_lifetime_applies_at_once(url):
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        charge(ledger, "r1", 2.0)
        ledger.begin_fit(**key("r1"), spec_hash=HASH)
    lowered = {**BUDGETS, "census": LifetimeBudget(epsilon=2.5, delta=3e-5)}
    with BudgetLedger(create_ledger_engine(url), lowered) as ledger:
        with pytest.raises(BudgetExceeded, match="lifetime 2.5"):
            charge(ledger, "r2", 1.0)
        assert [s.dataset for s in ledger.summary()] == ["census", "clinic"]
        assert standing(ledger).remaining_epsilon == pytest.approx(0.5)
    unconfigured = {"clinic": BUDGETS["clinic"]}
    with BudgetLedger(create_ledger_engine(url), unconfigured) as ledger:
        census = next(s for s in ledger.summary() if s.dataset == "census")
        assert census.lifetime_epsilon is None and census.remaining_epsilon is None and census.spent_epsilon == 2.0
        with pytest.raises(ConfigError):
            charge(ledger, "r3", 0.1)


def _race(url: str, runs: int, epsilon: float) -> tuple[list, list]:
    """`runs` threads, each with its own engine and connection, released together by a barrier."""
    barrier = threading.Barrier(runs)
    passed, refused, crashed = [], [], []

    def attempt(index: int) -> None:
        with BudgetLedger(create_ledger_engine(url), BUDGETS) as own:
            own.summary("census")  # connect (and create the tables) before the start line
            barrier.wait()
            try:
                passed.append(charge(own, f"race-{index}", epsilon))
            except BudgetExceeded as exc:
                refused.append(exc)
            except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
                crashed.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not crashed, crashed
    return passed, refused


@pytest.mark.parametrize("runs, epsilon, fit", [(2, 2.0, 1), (6, 1.0, 3), (8, 0.7, 4)])
def test_concurrent_charges_cannot_overspend(url, runs, epsilon, fit):
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        ledger.summary()  # the tables exist before the race
        passed, refused = _race(url, runs, epsilon)
        assert (len(passed), len(refused)) == (fit, runs - fit)
        after = standing(ledger)
        assert after.reserved_epsilon == pytest.approx(fit * epsilon) and after.reserved_epsilon <= 3.0
        assert len(after.entries) == fit


def test_concurrent_refits_of_one_run_are_each_charged(url):
    barrier = threading.Barrier(4)
    passed, refused, crashed = [], [], []
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        charge(ledger, "r", 1.0)
        ledger.begin_fit(**key("r"), spec_hash=HASH)

        def refit() -> None:
            with BudgetLedger(create_ledger_engine(url), BUDGETS) as own:
                own.summary("census")
                barrier.wait()
                try:
                    passed.append(own.begin_fit(**key("r"), spec_hash=HASH))
                except BudgetExceeded as exc:
                    refused.append(exc)
                except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
                    crashed.append(exc)

        threads = [threading.Thread(target=refit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not crashed, crashed
        assert (sorted(e.attempt for e in passed), len(refused)) == ([2, 3], 2)
        assert standing(ledger).spent_epsilon == pytest.approx(3.0)


def test_open_ledger_defaults_and_overrides(tmp_path, state_dir, monkeypatch):
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "ledger.yaml").write_text("datasets: {census: {epsilon: 1, delta: 1.0e-5}}")
    with open_ledger(project) as ledger:
        assert [s.dataset for s in ledger.summary()] == ["census"]
    assert (state_dir / "ledger.sqlite").is_file()

    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("datasets: {clinic: {epsilon: 1, delta: 1.0e-5}}")
    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_CONFIG", str(elsewhere))
    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    with open_ledger(project) as ledger:
        assert [s.dataset for s in ledger.summary()] == ["clinic"]
    assert (tmp_path / "other.sqlite").is_file()

    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_URL", "mysql://nobody@localhost/ledger")
    with pytest.raises(ConfigError, match="only sqlite and postgresql"):
        open_ledger(project)


def test_an_unreachable_ledger_is_a_ledger_error():
    url = "postgresql+psycopg2://postgres@127.0.0.1:1/ledger"
    with pytest.raises(LedgerError, match="failed while opening it .*SYNTH_PIPELINE_LEDGER_URL"):
        BudgetLedger(create_ledger_engine(url), BUDGETS)
