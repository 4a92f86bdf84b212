"""`schedule:` checked as Airflow will read it, so that a bad one fails `validate-spec` rather than the DAG file.

Airflow takes `@once`, `@continuous`, its cron presets, or a cron expression of five fields (it refuses croniter's
optional sixth, seconds field). The check uses croniter, which Airflow's cron timetables use to parse the same
string; Airflow itself is not imported (the spec loader stays light: the CLI and every worker task load specs).
"""

from __future__ import annotations

from croniter import croniter

# Airflow's `airflow.sdk.definitions.timetables._cron.CRON_PRESETS` plus the two schedules that are not cron
# (`tests/test_spec.py` checks the list against the installed Airflow).
AIRFLOW_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def check_schedule(value: str) -> None:
    """ValueError unless Airflow accepts `value` as a DAG's schedule."""
    if value in AIRFLOW_PRESETS:
        return
    if value.startswith("@"):
        raise ValueError(f"unknown preset {value!r}; Airflow's presets are {', '.join(AIRFLOW_PRESETS)}")
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"expected one of Airflow's presets ({', '.join(AIRFLOW_PRESETS)}) or a cron expression "
                         f"of five fields (minute hour day-of-month month day-of-week), got {value!r}")
