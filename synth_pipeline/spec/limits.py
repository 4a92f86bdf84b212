"""Caps on every size and range a spec controls, with why each one holds.

A spec is written by someone who is not trusted with the data and whose file is parsed by the dag-processor, the
CLI and every worker task. Any number in it that becomes an allocation, a loop count or a date must have a ceiling
the worker's memory and time can meet, and validation must refuse a value above it before any step reads data or
charges budget: the review of 2026-12-03 found `max_categories: 1e9` OOM-killing a shared host at `charge_budget`,
`publish.rows: 1e12` asking for 109 TiB in `sample`, `retention_days: 1e9` overflowing at publication, and
`epsilon: 1e-300` dividing by zero in AIM after the charge was spent.

The caps assume a worker with about 8 GiB of memory for one task (`docker-compose.yml` sets no limit, so a task
that outgrows it takes the host down with it) and a task that ends within the hour. Each sits far above what the
bundled releases use (the largest: Adult, 15 columns, 42 levels).
"""

from __future__ import annotations

# --- The file itself (synth_pipeline.spec.safe_yaml) -------------------------------------------------------------
# The bundled specs are 5-8 KiB; 256 KiB is 30 times that. Parsing is the costly part: about 2 s for 256 KiB of the
# densest YAML (one short value per item) on a busy two-core host. It bounds what one bad file in the DAG folder
# costs the dag-processor, whose import timeout (30 s by default) covers every spec at once: a file that blew it
# would drop every release DAG with it.
MAX_SPEC_BYTES = 256 * 1024
# YAML values once aliases are expanded. Without aliases 256 KiB holds at most about 130,000 ("a,"); an alias
# repeats a subtree without repeating its text, so nine levels of ten references name 10^9 values ("billion
# laughs") and everything that walks them (validation, error messages, the spec hash) hangs.
MAX_SPEC_NODES = 200_000
# Nesting depth of the YAML document. The deepest bundled spec nests 6 levels; the composer, pydantic and the
# JSON hash recurse once per level, and 100,000 levels crash them with RecursionError.
MAX_SPEC_DEPTH = 32

# --- Text ---------------------------------------------------------------------------------------------------------
# Description, purpose: copied into the DAG's docs, the manifest and the data card of every published version.
MAX_TEXT_CHARS = 4_000
# Names, owners, stewards, tags, category labels, query names, rule strings: identifiers and labels, not prose.
MAX_LABEL_CHARS = 256
MAX_TAGS = 32
MAX_STEWARDS = 100

# --- The table's shape ----------------------------------------------------------------------------------------------
MAX_SOURCES = 100  # each source is read whole into the extract step's memory
# Each column is a one-way marginal for AIM and an output head for the network; the workload grows with
# columns^workload_ways (see MAX_WORKLOAD_MARGINALS).
MAX_COLUMNS = 1_000
# Levels of one categorical column, declared or estimated (`max_categories`). The largest `max_levels` a generator
# accepts (synth_pipeline.generators.params) is 100,000, and a 5-digit ZIP prefix estimated under DP needs exactly
# that many; the pre-flight builds the largest domain an estimate can produce, so this also bounds its memory
# (100,000 level names, a few MB) where 10^9 took 22.8 GB.
MAX_CATEGORIES = 100_000
# Numeric bounds and bin edges: the domain's arithmetic (bin widths, integer codes) runs in float64, exact for
# integers up to 2^53 (about 9e15); `max: 1e308, min: -1e308` overflowed it to infinity.
MAX_ABS_BOUND = 1e15
MAX_BIN_EDGES = 10_001  # the public cut points of one numeric column: at most 10,000 bins
# DP cut points: each is one more quantile sharing the column's estimation epsilon, so past a few dozen the noise
# swamps them.
MAX_ESTIMATED_BINS = 64
MAX_ATOMS = 100  # values with a point mass of their own in one numeric column (0, a top-code, a few sentinels)
# AIM measures marginals on every set of `workload_ways` columns (and their subsets): C(columns, ways) candidates,
# each a count array held in memory for the whole fit. 10,000 is 40 columns at 3-way or 141 at 2-way.
MAX_WORKLOAD_MARGINALS = 10_000

# Weights of the DP-SGD network (embeddings, and per column a head over the columns before it: quadratic in the
# columns). Opacus holds each weight several times (the weight, its clipped gradient, the noise, Adam's two moments):
# 50 million float32 weights are about 1 GB in all.
MAX_NETWORK_WEIGHTS = 50_000_000

# --- Output and evaluation sizes ------------------------------------------------------------------------------------
# Rows one release samples: the synthetic table is built in memory as codes, then decoded (strings for the
# categorical levels). 10^7 rows of 20 columns is about 3 GB at the peak; the cells cap bounds wider tables.
MAX_RELEASE_ROWS = 10_000_000
MAX_RELEASE_CELLS = 200_000_000
MAX_QUERIES = 100  # evaluation queries, each a group-by on the real and the synthetic table
MAX_CONSTRAINTS = 100
MAX_GROUP_BY = 8  # columns per query: the groups multiply

# --- Time -----------------------------------------------------------------------------------------------------------
# A release expires `retention_days` after publication; Python's dates end in year 9999, so above about 2.9 million
# days the expiry date cannot be computed (OverflowError at publish, after the steward approved). Ten years is
# longer than any purpose a synthetic release is kept for without a fresh run.
MAX_RETENTION_DAYS = 3_653
# The steward's answer must come within a year; a timedelta of infinite hours cannot be built at all.
MAX_APPROVAL_HOURS = 24 * 365

# --- Privacy ---------------------------------------------------------------------------------------------------------
# The release's total epsilon. Below 0.01, a count over the whole table carries Laplace noise with a scale of 100
# individuals' worth at the least, and every released marginal far more: no release could pass its utility gates,
# so the charge would be wasted. Above 20, exp(epsilon) is about 5 * 10^8: the guarantee no longer means anything
# and the value is a typo (a lifetime budget in the ledger is the place for large totals).
MIN_EPSILON = 0.01
MAX_EPSILON = 20.0
# The smallest epsilon any one mechanism of a run gets (the generator's share, the domain estimation, the release
# decision; the default decision share of 5% of the smallest total is 0.0005). Far below it floating point gives
# way: at epsilon 1e-300 the zCDP budget rounds to 0 and AIM divided by zero after the charge was spent.
MIN_MECHANISM_EPSILON = 1e-4
# The generator's zCDP budget (rho) must reach this. The accountant converts rho to (epsilon, delta) on Renyi
# orders up to ACCOUNTANT_MAX_ORDER (`synth_pipeline.privacy.accounting.ORDERS`), so a given delta puts a floor under
# the epsilon it can express: about ln(1/delta) / 4095 (0.0028 at delta 1e-5, 0.017 at 1e-30). Below that floor
# the generator's rho came out 0 and AIM divided by zero after the charge was spent; at 1e-10 every noise scale
# (AIM's per-round share, DP-SGD's counts) stays a finite float.
MIN_GENERATOR_RHO = 1e-10
ACCOUNTANT_MAX_ORDER = 4096
# A public floor on the individuals (privacy.min_individuals): more people than live on Earth is a typo.
MAX_INDIVIDUALS = 10**10
