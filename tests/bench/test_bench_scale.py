"""`synth-pipeline bench-scale` on a tiny table: every step runs and is timed, in order."""

from __future__ import annotations

import pytest

from synth_pipeline.bench import scale
from synth_pipeline.cli import main
from synth_pipeline.steps import STEPS


@pytest.mark.slow  # three tables built from Adult: about 4 s
def test_the_generated_table_is_seeded_with_twenty_columns_nulls_and_atoms():
    first, again = scale.generate_table(3000, 1), scale.generate_table(3000, 1)
    assert first.equals(again) and first.shape == (3000, 20)
    assert first["commute_minutes"].eq(0).mean() > 0.05 and first["household_size"].isna().any()
    assert not first.equals(scale.generate_table(3000, 2))


def test_a_previous_size_is_added_only_where_it_says_something():
    assert scale._sizes([1e6]) == [100_000, 1_000_000]
    assert scale._sizes([20_000]) == [20_000] and scale._sizes([1e6, 1e5]) == [100_000, 1_000_000]


@pytest.mark.slow  # a whole run of every step (training included): about a minute
def test_every_step_runs_and_is_timed(tmp_path, capsys):
    assert main(["bench-scale", "--rows", "3000", "--param", "rounds=5", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("step "):].splitlines()
    assert [line.split()[0] for line in table[1:len(STEPS) + 1]] == list(STEPS)
    assert table[len(STEPS) + 1].startswith("total")
    # Five rounds of training on 3,000 rows may fail the release decision (then the report refuses); nothing else.
    failed = {line.split()[3].rstrip(":") for line in table if line.lstrip().startswith("!")}
    assert failed <= {"validate", "report"}, out
    assert list(tmp_path.iterdir()) == []  # the throwaway project is gone
