"""How the contract types and writes a value: the stored decimal types and the text an input file may hold.

Kept apart from the pandera models (schemas/tables.py) so that settings and contracts load without pandera.
"""

import polars as pl

MONEY = pl.Decimal(18, 4)  # amounts in the customer's currency
QUANTITY = pl.Decimal(18, 6)  # usage units and per-unit rates (rates such as 0.015 per MB)
# How input files may write a value (docs/data-contract.md): decimals with an optional thousands comma,
# ISO or regional dates, and these words for booleans.
DECIMAL_TEXT = r"^[+-]?((\d+|\d{1,3}(,\d{3})+)(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
ISO_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
REGIONAL_DATE_TEXT = r"^\d{1,2}/\d{1,2}/\d{4}$"
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
