"""The Spark engine: the domain's encoding as Spark column expressions and every marginal count in one Spark job.

The table goes to Spark as Arrow in the domain's types (levels as text, numbers as doubles, datetimes as whole
seconds since the epoch, exactly the values `synth_pipeline.domain` starts from), each column's codes are computed
by Spark SQL expressions that mirror `Domain.encode` step by step (same IEEE double arithmetic, same tie-breaking,
same policies), and one job explodes every row into one (clique, cell) pair per clique and counts them. Only the
count arrays come back; nothing row-level is collected. No Python runs per row (no UDF).

Refusals match the local engine's: the table's first column (in domain order) that holds nulls it may not hold, or
values outside its domain under `out_of_domain: reject`, is named with the rule it broke, never a value or a count.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa

# The local encoding's own constants and refusal, so that both engines round and refuse alike.
from synth_pipeline.domain import _SECONDS_PER_DAY, POINT_TOLERANCE, ColumnCodec, Domain, _refuse
from synth_pipeline.errors import ConfigError, DomainError, GeneratorError

# Codes a row's column gets when `Domain.encode` would refuse the table: a null the column may not hold, a value
# outside its domain that its policy does not absorb. The order is the local engine's: nulls are checked first.
_REFUSED_NULL, _REFUSED_OUTSIDE = -1, -2
# The pseudo-clique whose cells are the refusals: cell 2j + r is column j refused for reason r (0 null, 1 outside).
_REFUSALS = -1


def master_from_connection(uri: str) -> str:
    """The master URL of an Airflow Spark Connection, read as the Spark provider reads it: its host, with `:port`
    when it has one. A host holding a scheme is URL-quoted in the URI form (spark://spark%3A%2F%2Fmaster:7077);
    the JSON form ({"conn_type": "spark", "host": "spark://master", "port": 7077}) is accepted too."""
    if uri.lstrip().startswith("{"):
        try:
            fields = json.loads(uri)
            kind, host, port = fields.get("conn_type"), fields.get("host") or "", fields.get("port")
        except (ValueError, AttributeError):
            raise ConfigError("engine.conn_id: the connection is not valid JSON") from None
    else:
        parts = urlsplit(uri)
        netloc = parts.netloc.rpartition("@")[2]  # credentials never reach the master URL (or a message)
        head, _, tail = netloc.rpartition(":")
        host, port = (head, tail) if tail.isdigit() else (netloc, None)
        kind, host = parts.scheme, unquote(host)
    # Without Airflow's Spark provider installed (its client clashes with a full pyspark), `airflow connections add
    # --conn-type spark` and the UI store the type as generic: the same connection, so both are taken.
    if kind not in ("spark", "generic") or not host:
        raise ConfigError("engine.conn_id: expected a Spark connection (conn_type spark, or generic) with a host")
    return f"{host}:{port}" if port else host


class SparkEngine:
    name: ClassVar[str] = "spark"

    def __init__(self, master: str):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ConfigError("engine spark: pyspark cannot be imported here (pip install -c constraints.txt -e .)") \
                from None
        # Py4J logs every socket it opens and closes at INFO: noise in the task log, and at interpreter exit it
        # writes to streams already closed.
        logging.getLogger("py4j").setLevel(logging.WARNING)
        try:
            self.session = (SparkSession.builder.master(master).appName("synth-pipeline")
                            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                            .getOrCreate())
        except Exception as exc:  # noqa: BLE001 - no Java, an unreachable cluster: pyspark has no common base
            raise ConfigError(f"engine spark: cannot start a Spark session ({type(exc).__name__}); is Java 17+ "
                              "installed and the cluster reachable?") from None

    def marginals(self, table: pd.DataFrame, domain: Domain,
                  cliques: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        from pyspark.sql import functions as F

        missing = [name for name in domain.names if name not in table.columns]
        if missing:
            raise DomainError(f"the table lacks domain columns {missing}")
        frame = self.session.createDataFrame(_arrow_table(table, domain))
        # Codes first, in a projection of their own: every clique's cell then reads them instead of repeating each
        # column's encoding (Spark does not merge projections that would duplicate costly expressions).
        frame = frame.select(*[_code(codec, F.col(f"c{j}")).alias(f"c{j}") for j, codec in enumerate(domain.columns)])
        codes = [F.col(f"c{j}") for j in range(len(domain.columns))]
        sizes = domain.sizes
        entries = [F.struct(F.lit(i).alias("c"), _flat(codes, clique, sizes).alias("k"))
                   for i, clique in enumerate(cliques)]
        if codes:  # least() skips nulls: a row's first refused column, null where none is
            refusal = functools.reduce(F.least, [F.when(code < 0, 2 * j + (_REFUSED_NULL - code))
                                                 for j, code in enumerate(codes)])
            entries.append(F.struct(F.lit(_REFUSALS).alias("c"), refusal.alias("k")))
        counts = {clique: np.zeros(int(np.prod([sizes[a] for a in clique])), dtype=np.float64) for clique in cliques}
        if not entries:
            return counts
        try:
            rows = (frame.select(F.explode(F.array(*entries)).alias("e")).select("e.c", "e.k")
                    .where(F.col("k").isNotNull()).groupBy("c", "k").count().collect())
        except Exception as exc:  # noqa: BLE001 - Py4J and Spark errors alike; theirs may quote rows (invariant 1)
            raise GeneratorError(f"engine spark: the job counting the marginals failed ({type(exc).__name__}); "
                                 "the Spark driver's log has the cause") from None
        refused = [row["k"] for row in rows if row["c"] == _REFUSALS]
        if refused:
            column, reason = divmod(min(refused), 2)
            codec = domain.columns[column]
            raise _refuse(codec, "nulls in a column that is not nullable" if reason == 0 else
                          f"values outside the declared domain, and its out_of_domain policy is {codec.out_of_domain}")
        for row in rows:
            if row["c"] != _REFUSALS:
                counts[cliques[row["c"]]][row["k"]] = float(row["count"])
        return counts


def _arrow_table(table: pd.DataFrame, domain: Domain) -> pa.Table:
    """The domain's columns in the types the encoding starts from, named by position (a schema column's name may
    hold dots or backticks, which Spark reads as paths)."""
    columns = {}
    for j, codec in enumerate(domain.columns):
        series = table[codec.name]
        if codec.dtype == "boolean":
            columns[f"c{j}"] = pa.array(series.astype("boolean"))
        elif codec.kind == "levels":
            columns[f"c{j}"] = pa.array(series.astype("string"))
        elif codec.dtype == "datetime":  # as `domain._ordinal_values`: whole seconds, the day taken in Spark
            seconds = pd.to_datetime(series).astype("datetime64[s]").to_numpy(dtype="datetime64[s]").astype(np.int64)
            columns[f"c{j}"] = pa.array(seconds, mask=series.isna().to_numpy())
        else:
            values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
            columns[f"c{j}"] = pa.array(values, from_pandas=True)  # NaN is null, as `isna` has it
    return pa.table(columns)


def _doubles(points: Sequence[float]):
    from pyspark.sql import functions as F

    return F.array(*[F.lit(float(p)) for p in points])


def _nearest(value, points: Sequence[float]):
    """`domain.nearest_points` for one non-null value: (index of the nearest point, whether it is that point)."""
    from pyspark.sql import functions as F

    grid, last = _doubles(points), len(points) - 1
    right = F.least(F.size(F.filter(grid, lambda p: p < value)), F.lit(last))  # numpy's searchsorted, side left
    left = F.greatest(right - 1, F.lit(0))
    at = lambda index: F.element_at(grid, index + 1)  # noqa: E731 - Spark arrays count from 1
    nearest = F.when(F.abs(value - at(left)) <= F.abs(value - at(right)), left).otherwise(right)
    exact = F.abs(value - at(nearest)) <= F.lit(POINT_TOLERANCE) * F.greatest(F.lit(1.0), F.abs(at(nearest)))
    return nearest, exact


def _code(codec: ColumnCodec, column):
    """One column's code as `domain._encode_column` computes it, or a _REFUSED_* code where it would refuse."""
    from pyspark.sql import functions as F

    null, outside = column.isNull(), F.lit(False)
    clippable = True
    if codec.kind == "levels":
        clippable = False  # a level has no nearest level to clip to
        if codec.dtype == "boolean":
            inner = column.cast("int")  # levels ("False", "True")
        else:
            found = F.array_position(F.array(*[F.lit(level) for level in codec.levels]), column) - 1
            outside = ~null & (found < 0)
            inner = F.greatest(found, F.lit(0))
    elif codec.kind == "values":
        inner, exact = _nearest(F.coalesce(column, F.lit(codec.atoms[0])), codec.atoms)
        outside = ~null & ~exact
    else:
        value = column.cast("double")
        if codec.dtype == "datetime":
            value = F.floor(value / (_SECONDS_PER_DAY if codec.datetime_unit == "D" else 1)).cast("double")
        low, high = codec.edges[0], codec.edges[-1] - 1 if codec.kind == "ordinal" else codec.edges[-1]
        safe = F.coalesce(value, F.lit(low))
        outside = ~null & ((safe < low) | (safe > high))
        clipped = F.least(F.greatest(safe, F.lit(low)), F.lit(high))
        bin_ = F.size(F.filter(_doubles(codec.edges), lambda e: e <= clipped)) - 1  # searchsorted, side right
        inner = F.least(F.greatest(bin_, F.lit(0)), F.lit(codec.bins - 1)) + len(codec.atoms)
        if codec.atoms:
            atom, exact = _nearest(safe, codec.atoms)
            inner = F.when(exact & ~outside, atom).otherwise(inner)
    map_code = codec.levels.index(codec.map_to) if codec.out_of_domain == "map" else None
    if codec.out_of_domain == "clip" and clippable:
        when_outside = inner
    elif map_code is not None:
        when_outside = F.lit(map_code)
    elif codec.out_of_domain == "null" and codec.nullable:
        when_outside = F.lit(codec.null_code)
    else:
        when_outside = F.lit(_REFUSED_OUTSIDE)
    when_null = codec.null_code if codec.nullable else map_code if map_code is not None else _REFUSED_NULL
    return F.when(null, F.lit(when_null)).when(outside, when_outside).otherwise(inner).cast("long")


def _flat(codes: list, clique: Sequence[int], sizes: Sequence[int]):
    """The cell of `clique` a row falls in, C order (numpy's ravel_multi_index)."""
    from pyspark.sql import functions as F

    flat = F.lit(0).cast("long")
    for a in clique:
        flat = flat * sizes[a] + codes[a]
    return flat
