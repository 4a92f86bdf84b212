"""Privacy accounting and the budget ledger: what a run may spend, what it spent, and the DP mechanisms that
estimate undeclared domains.

- `ledger`: each dataset's lifetime (epsilon, delta) and every run's charge (reserved, spent, released), in SQL
  (SQLite by default, PostgreSQL in production); basic composition across releases.
- `contributions`: the privacy unit: at most `max_rows` rows per individual, and the train | holdout split.
- `estimation`: DP quantiles for undeclared bounds, a thresholded DP histogram for undeclared categories.
- `accounting`: the accountant that turns a generator's noise, sampling rate and steps into (epsilon, delta).
- `cli`: `synth-pipeline budget [DATASET]`.
"""
