"""Every error the pipeline raises on purpose, in one place.

Messages name files, columns, keys, rules, verdicts and public or DP figures, never data values nor counts or
statistics of private data: they end up in Airflow task logs.
"""


class PipelineError(Exception):
    """Base class: a failure the pipeline detected and explained. Exit code 2 in the CLI."""


class SpecError(PipelineError):
    """The release spec is missing, unreadable or invalid."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {problem}" for problem in self.problems))


class SourceError(PipelineError):
    """A source could not be read: missing file, unreadable format, failing query, bad connection."""


class HarmonizeError(PipelineError):
    """Source tables cannot be mapped onto the target schema (missing column, uncoercible type, empty result)."""


class QualityGateFailed(PipelineError):
    """A Great Expectations suite failed on the table; the message names the expectations and their rules (the counts
    are in the run folder's report)."""


class ConfigError(PipelineError):
    """The environment the pipeline runs in is misconfigured (state folder, connection, key)."""


class ApprovalError(PipelineError):
    """The approval is missing, was refused, or breaks the four-eyes rule; nothing may be published."""


class ReleaseNotFound(PipelineError):
    """No published release or version by that name."""


class ReleaseTampered(PipelineError):
    """A published file is missing, extra, or does not match the checksum in its manifest."""


class ReleaseExpired(PipelineError):
    """The release is past its retention date and must no longer be used."""


class PIIFound(PipelineError):
    """The scan found personal data the spec did not declare; the message names columns and entity types (with
    counts only where the reader may see the data: the `scan-pii` command), never the values. Nothing downstream
    runs."""


class PrivacyConfigError(PipelineError):
    """A privacy parameter cannot be honoured: epsilon or delta out of range, delta >= 1/n, a domain that is
    neither declared nor estimable, a table too small for the generator's batch. Raised before any charge, except
    SeededRunNotPublishable: a seeded run may be trained (tests, benchmarks) but is refused at publication."""


class SeededRunNotPublishable(PrivacyConfigError):
    """A run whose split or training used a fixed seed (`generator.seed`, `--seed`) reached publication. Its noise is
    reproducible by whoever knows the seed, so the release is a deterministic function of the data with no DP
    guarantee: seeds are for tests and benchmarks, and such a run is never published."""


class BudgetExceeded(PipelineError):
    """Charging this run would take the dataset past its lifetime privacy budget in the ledger."""


class LedgerError(PipelineError):
    """The budget ledger is unreachable, misconfigured, or holds an entry that contradicts this run."""


class GeneratorError(PipelineError):
    """A generator cannot be built, trained, saved or loaded (unknown name, bad hyper-parameters, bad state)."""


class ValidationFailed(PipelineError):
    """The synthetic table fails its GX suite, the schema or a declared constraint."""


class UtilityTooLow(PipelineError):
    """The synthetic table's fidelity or workload utility is below the spec's gates."""


class RiskTooHigh(PipelineError):
    """A re-identification check exceeds the spec's gate: the release must not go out."""


class DomainError(PipelineError):
    """A table does not fit its declared public domain: a value outside a column's bounds or categories where the
    column's policy is to reject, or a null in a non-nullable column. The domain is never widened to fit. The message
    names the column and the rule only: how many rows broke it is a statistic of private data."""


class GatesFailed(PipelineError):
    """A run's report is written, but one of its gates failed: the run ends failed and nothing is published."""


class PathNotAllowed(PipelineError):
    """A path a spec names (source, suite, recognizer file, publication folder) resolves, symlinks followed, outside
    the folders the operator allows for it (`synth_pipeline.paths`). Nothing was read or written."""
