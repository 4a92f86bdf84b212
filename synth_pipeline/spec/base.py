"""What every spec object shares: frozen, strict about unknown keys and non-finite numbers, validated on
construction."""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Scalar = Union[bool, int, float, str]


class Frozen(BaseModel):
    # No spec number may be infinite or NaN: bounds, scales, thresholds and budgets all feed arithmetic (an
    # epsilon of .inf passed validation and failed only at charge_budget, after the data had been read).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, allow_inf_nan=False)
