"""The Spark engine counts exactly what the local engine counts, and an AIM fit through it is the same fit.

Spark runs in local mode (one JVM, two threads). Where Java or pyspark is missing the equality tests are skipped
on a developer's machine and fail in CI (`CI` or `SYNTH_PIPELINE_REQUIRE_SERVICES=1`): `make test` must prove it.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.bench.generators import ROOT, load_dataset
from synth_pipeline.domain import build_domain
from synth_pipeline.engines import make_engine
from synth_pipeline.engines.local import LocalEngine
from synth_pipeline.engines.spark import master_from_connection
from synth_pipeline.errors import ConfigError, DomainError, SourceError, SpecError
from synth_pipeline.generators import make_generator
from synth_pipeline.generators.aim_select import measured_cliques
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.spec import parse_spec
from synth_pipeline.spec.engine import EngineSpec
from synth_pipeline.spec.schema import (
    BooleanColumn,
    CategoricalColumn,
    DatetimeColumn,
    MapTo,
    NumericColumn,
)

REQUIRED = bool(os.environ.get("CI")) or os.environ.get("SYNTH_PIPELINE_REQUIRE_SERVICES") == "1"
# pyspark 4.3 warns on pandas 3 when it converts pandas frames; the engine hands it Arrow tables only.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


def _release(name: str):
    """A bundled release's spec, its harmonized training table, and the domain its generator models."""
    loaded, train, _ = load_dataset(ROOT / "releases" / f"{name}.yaml")
    generator = make_generator("aim", loaded.spec.generator.params)
    return loaded, train, generator, generator.build_domain(modelled_columns(loaded.spec)[0])


@pytest.fixture(scope="module")
def spark():
    try:
        engine = make_engine(EngineSpec(name="spark", master="local[2]"))
    except (ConfigError, ValueError) as exc:
        if REQUIRED:
            pytest.fail(f"the Spark engine cannot start, and CI requires it: {exc}")
        pytest.skip(f"the Spark engine cannot start here: {exc}")
    yield engine
    engine.session.stop()  # the JVM's heap is not the rest of the suite's to share


def _pairs(domain) -> list[tuple[int, ...]]:
    columns = range(len(domain.columns))
    return [(a,) for a in columns] + list(itertools.combinations(columns, 2))


def _assert_same_counts(spark, table, domain, cliques) -> None:
    local = LocalEngine().marginals(table, domain, cliques)
    remote = spark.marginals(table, domain, cliques)
    assert list(remote) == list(local)
    for clique in cliques:
        assert remote[clique].dtype == np.float64
        np.testing.assert_array_equal(remote[clique], local[clique], err_msg=f"clique {clique}")


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["heart_disease", "bank_marketing"])  # bank: atoms, declared values, nulls
def test_every_one_and_two_way_marginal_is_the_local_engines(spark, dataset):
    loaded, train, generator, domain = _release(dataset)
    target = domain.names.index(loaded.spec.evaluation.target)
    cliques = list(dict.fromkeys(_pairs(domain) + list(measured_cliques(domain.sizes, generator.params,
                                                                        target=target))))
    _assert_same_counts(spark, train[list(domain.names)], domain, cliques)


def _heart_document() -> dict:
    from synth_pipeline.spec.loading import load_spec

    spec = load_spec(ROOT / "releases" / "heart_disease.yaml").spec
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _every_kind() -> tuple[pd.DataFrame, dict]:
    schema = {
        "colour": CategoricalColumn(type="categorical", categories=["red", "green", "blue"], nullable=True),
        "size": CategoricalColumn(type="categorical", categories=["S", "M", "other"],
                                  out_of_domain=MapTo(map_to="other")),
        "flag": BooleanColumn(type="boolean", nullable=True),
        "age": NumericColumn(type="integer", min=0, max=99, atoms=[0, 99], nullable=True, out_of_domain="clip"),
        "score": NumericColumn(type="float", min=-1.0, max=1.0, atoms=[0.5], out_of_domain="null", nullable=True),
        "rate": NumericColumn(type="float", min=-3.4, max=1.4, values=[-3.4, -0.1, 0.2, 1.1, 1.4],
                              out_of_domain="clip"),
        "wide": NumericColumn(type="integer", min=-500, max=10_000),
        "day": DatetimeColumn(type="datetime", min="1960-01-01", max="2030-12-31", nullable=True),
        "stamp": DatetimeColumn(type="datetime", min="1969-12-01T00:00:00", max="1970-02-01T00:00:00",
                                out_of_domain="clip"),
    }
    rng = np.random.default_rng(7)
    n = 400

    def some(values, nulls=0.1):
        picked = pd.Series(rng.choice(np.asarray(values, dtype=object), size=n))
        return picked.mask(rng.random(n) < nulls)

    table = pd.DataFrame({
        "colour": some(["red", "green", "blue"]).astype("string"),
        "size": some(["S", "M", "XL", "other"]).astype("string"),  # XL maps to other, and so do nulls
        "flag": some([True, False]).astype("boolean"),
        "age": some([0, 1, 42, 98, 99, 150, -3]).astype("Int64"),  # atoms, ends, clipped from both sides
        "score": some([-1.0, -0.999, 0.0, 0.5, 0.5 + 1e-12, 0.75, 1.0, 3.0]).astype("Float64"),
        "rate": pd.Series(rng.choice([-3.4, -0.1, 0.2, 0.2 + 1e-13, 1.1, 1.4, 0.65, -9.0, 5.0], size=n)),
        "wide": pd.Series(rng.integers(-500, 10_001, size=n)),
        "day": pd.to_datetime(some(["1960-01-01", "1969-12-31", "1970-01-01", "2001-09-09", "2030-12-31"])),
        "stamp": pd.to_datetime(pd.Series(rng.integers(-40 * 86_400, 40 * 86_400, size=n)), unit="s"),
    })
    return table, schema


@pytest.mark.slow
def test_every_kind_of_column_and_policy_counts_alike(spark):
    table, schema = _every_kind()
    domain = build_domain(schema, numeric_bins=8)
    _assert_same_counts(spark, table, domain, _pairs(domain) + [(0, 3, 7), (8, 6, 2)])


@pytest.mark.slow
@pytest.mark.parametrize("column, value, rule", [
    ("colour", "purple", "out_of_domain policy is reject"),
    ("wide", 10_001, "out_of_domain policy is reject"),
    ("wide", None, "nulls in a column that is not nullable"),
])
def test_a_table_outside_its_domain_is_refused_alike(spark, column, value, rule):
    table, schema = _every_kind()
    table[column] = table[column].astype(object)
    table.loc[5, column] = value
    domain = build_domain(schema, numeric_bins=8)
    cliques = _pairs(domain)
    with pytest.raises(DomainError) as local:
        LocalEngine().marginals(table, domain, cliques)
    with pytest.raises(DomainError) as remote:
        spark.marginals(table, domain, cliques)
    assert str(remote.value) == str(local.value)
    assert rule in str(remote.value) and repr(column) in str(remote.value)


@pytest.mark.slow
def test_an_aim_fit_through_spark_is_the_local_fit(spark):
    loaded, train, _, domain = _release("heart_disease")
    generator = make_generator("aim", {**loaded.spec.generator.params, "rounds": 4, "iterations": 20,
                                       "final_iterations": 40})
    fits = [generator.fit(train, domain, epsilon=1.0, delta=1e-6, units=None, rng=np.random.default_rng(3),
                          engine=engine) for engine in (LocalEngine(), spark)]
    local, remote = fits
    assert remote.privacy == local.privacy and remote.released_rows == local.released_rows
    assert remote.model.tree.cliques == local.model.tree.cliques
    for a, b in zip(remote.model.potentials, local.model.potentials):
        assert bool((a == b).all())
    pd.testing.assert_frame_equal(remote.sample(300, np.random.default_rng(5)),
                                  local.sample(300, np.random.default_rng(5)))


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="expected one of"):
        make_engine(EngineSpec.model_construct(name="dask", master=None, conn_id=None))
    with pytest.raises(ValueError, match="'local' or 'spark'"):
        EngineSpec(name="dask")


def test_spark_without_pyspark_is_a_clear_error(monkeypatch):
    from synth_pipeline.engines.spark import SparkEngine

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # the import fails as if pyspark were not installed
    with pytest.raises(ConfigError, match="pyspark cannot be imported"):
        SparkEngine("local[1]")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(ValueError, match="needs pyspark"):
        EngineSpec(name="spark", master="local[1]")


@pytest.mark.parametrize("engine, problem", [
    ({"name": "spark"}, "exactly one of 'master'"),
    ({"name": "spark", "master": "spark://elsewhere:7077"}, "named by an Airflow Connection"),
    ({"name": "spark", "master": "local[512]"}, "at most local[64]"),
    ({"name": "local", "conn_id": "spark_default"}, "takes no 'master' or 'conn_id'"),
])
def test_the_spec_refuses_a_bad_engine_block(engine, problem):
    raw = _heart_document()
    with pytest.raises(SpecError, match=problem.replace("[", r"\[")):
        parse_spec({**raw, "engine": engine}, "test.yaml")


def test_the_spark_engine_runs_aim_only():
    raw = _heart_document()
    spark = {"name": "spark", "conn_id": "spark_default"}
    assert parse_spec({**raw, "engine": spark}, "test.yaml").engine.conn_id == "spark_default"
    with pytest.raises(SpecError, match="runs the aim generator only"):
        parse_spec({**raw, "engine": spark, "generator": {"name": "dpsgd_autoregressive"}}, "test.yaml")


@pytest.mark.parametrize(("uri", "master"), [
    ("spark://spark%3A%2F%2Fmaster.example:7077", "spark://master.example:7077"),  # Airflow's URI form
    ("spark://yarn", "yarn"),
    ("generic://local%5B1%5D", "local[1]"),  # `airflow connections add --conn-type spark` without the provider
    ("spark://user:secret@local", "local"),
    ('{"conn_type": "spark", "host": "k8s://https://api.example:6443"}', "k8s://https://api.example:6443"),
])
def test_a_spark_connection_names_its_master(uri, master):
    assert master_from_connection(uri) == master


def test_a_connection_that_is_not_sparks_is_refused_without_its_secrets():
    with pytest.raises(ConfigError, match="expected a Spark connection") as error:
        master_from_connection("postgres://owner:hunter2@db.example/warehouse")
    assert "hunter2" not in str(error.value)


@pytest.mark.slow
def test_the_engine_resolves_its_connection_inside_the_task(spark, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_TEST", "spark://local")
    engine = make_engine(EngineSpec(name="spark", conn_id="spark_test"))
    assert engine.session.sparkContext.master.startswith("local")
    with pytest.raises(SourceError, match="connection 'spark_nowhere' is not defined"):
        make_engine(EngineSpec(name="spark", conn_id="spark_nowhere"))


def _spark_copy(project, engine: dict):
    """heart_disease's spec under another name, spending from the same ledger budget, with an `engine:` block."""
    import yaml

    local_spec = project / "releases" / "heart_disease.yaml"
    document = yaml.safe_load(local_spec.read_text())
    spark_spec = local_spec.with_name("heart_disease_spark.yaml")
    privacy = {**document["privacy"], "dataset": document["name"]}
    spark_spec.write_text(yaml.safe_dump({**document, "name": "heart_disease_spark", "privacy": privacy,
                                          "engine": engine}, sort_keys=False))
    return local_spec, spark_spec


@pytest.mark.slow
def test_a_release_run_trained_through_spark_saves_the_local_runs_model(spark, project, state_dir):
    from pipeline_runs import prepared
    from synth_pipeline.steps.generate import run_train

    models = []
    for run_id, spec in zip(("local", "spark"), _spark_copy(project, {"name": "spark", "master": "local[2]"})):
        run_dir = prepared(spec, state_dir, run_id)
        run_train(spec, run_dir, run_id=run_id, seed=3)
        models.append((run_dir / "train" / "model" / "model.safetensors").read_bytes())
    assert models[0] == models[1]


@pytest.mark.slow
def test_an_engine_that_cannot_start_costs_no_budget(project, state_dir):
    from pipeline_runs import entry_status, prepared
    from synth_pipeline.steps.generate import run_train

    _, spec = _spark_copy(project, {"name": "spark", "conn_id": "spark_nowhere"})
    run_dir = prepared(spec, state_dir, "r1")
    with pytest.raises(SourceError, match="not defined"):
        run_train(spec, run_dir, run_id="r1", seed=3)
    assert entry_status(spec, "r1") == "reserved"  # never made final: settling gives it back
