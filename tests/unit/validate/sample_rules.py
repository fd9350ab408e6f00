"""A custom business rule for the validate tests (the protocol of ``validate.rules.RowRule``)."""

from __future__ import annotations

import pandas as pd


class AmountCap:
    """A row passes when its amount is at most ``cap`` (a missing amount passes)."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def mask(self, batch: pd.DataFrame) -> pd.Series:
        return batch["amount"].isna() | (batch["amount"] <= self.cap)
