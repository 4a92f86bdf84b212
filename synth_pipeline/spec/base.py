"""What every spec object shares: frozen, strict about unknown keys, validated on construction."""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Scalar = Union[bool, int, float, str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)
