"""Extractor ``excel``: sheets of .xlsx/.xlsm/.xls/.ods workbooks, read by calamine (fastexcel)
straight into Arrow; dates stay dates."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field, field_validator

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, TypeName, path_field
from ecluse.sdk.files import expand_paths
from ecluse.sdk.relational import require_columns
from ecluse.sdk.types import to_ibis_type

_RANGE = re.compile(r"^([A-Za-z]{1,3})(\d+)?(?::([A-Za-z]{1,3})(\d+)?)?$")
ALL_SHEETS = "*"


class ExcelConfig(ModuleConfig):
    path: str = path_field("A workbook (.xlsx, .xlsm, .xls, .ods) or a glob of workbooks.")
    sheet: int | str = Field(0, description="Sheet name, or index from 0; `*` reads every sheet "
                             "and adds a `sheet` column.")
    header_row: int | None = Field(1, ge=1, description="Row number of the header, as Excel shows "
                                   "it (within `range` when given); empty when there is no header.")
    range: str | None = Field(None, description="Cells to read in A1 notation, e.g. `B3:F200` or "
                              "`B:F`.", examples=["A1:D100"])
    columns: dict[str, TypeName] = Field(default_factory=dict,
                                         description="Explicit types for some columns.")

    @field_validator("range")
    @classmethod
    def _a1(cls, value: str | None) -> str | None:
        if value is not None and not _RANGE.match(value.strip()):
            raise ValueError(f"{value!r} is not an A1 range such as 'B3:F200' or 'B:F'")
        return value


class ExcelExtractor(Extractor):
    name = "excel"
    title = "Excel workbook"
    description = "Read sheets of Excel or OpenDocument workbooks; dates stay dates."
    category = "Files"
    icon = "grid_on"
    Config = ExcelConfig
    config: ExcelConfig
    examples: ClassVar = ({"path": "in/budget.xlsx", "sheet": "2024", "header_row": 3,
                           "range": "B3:H400"},)

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        limit = 200 if ctx.mode == "schema" else ctx.sample_rows
        tables = [t for path in expand_paths(c.path, base_dir=ctx.base_dir)
                  for t in _read_workbook(path, c, limit)]
        if not tables:
            raise ConfigError(f"no data found in {c.path!r} (every sheet read is empty)", field="sheet")
        data = pa.concat_tables(tables, promote_options="permissive")
        table = ctx.backend.from_arrow(data, name="excel")
        require_columns(table, c.columns, field="columns")
        return table.mutate(**{k: table[k].cast(to_ibis_type(v)) for k, v in c.columns.items()}) \
            if c.columns else table


def _read_workbook(path: str, c: ExcelConfig, limit: int | None) -> list[pa.Table]:
    import fastexcel

    try:
        book = fastexcel.read_excel(path)
    except Exception as exc:
        raise ConfigError(f"cannot open {path} as a workbook: {exc}", field="path") from exc
    names = book.sheet_names
    if c.sheet == ALL_SHEETS:
        wanted: list[int | str] = list(names)
    elif isinstance(c.sheet, int) and c.sheet >= len(names):
        raise ConfigError(f"{path} has {len(names)} sheet(s); index {c.sheet} does not exist",
                          field="sheet")
    elif isinstance(c.sheet, str) and c.sheet not in names:
        raise ConfigError(f"{path} has no sheet {c.sheet!r}; sheets are: {', '.join(names)}",
                          field="sheet")
    else:
        wanted = [c.sheet]
    out = []
    for sheet in wanted:
        table = _read_sheet(book, sheet, c, limit)
        if table.num_columns == 0 or table.num_rows == 0:
            if c.sheet != ALL_SHEETS:
                raise ConfigError(f"sheet {sheet!r} of {path} is empty", field="sheet")
            continue
        if c.sheet == ALL_SHEETS:
            name = sheet if isinstance(sheet, str) else names[sheet]
            table = table.append_column("sheet", pa.array([name] * table.num_rows, pa.string()))
        out.append(table)
    return out


def _read_sheet(book: Any, sheet: int | str, c: ExcelConfig, limit: int | None) -> pa.Table:
    # Excel rows are 1-based; fastexcel's are 0-based.
    first_col = last_col = None
    first_row, last_row = 1, None
    if c.range:
        m = _RANGE.match(c.range.strip())
        assert m is not None
        first_col, start, last_col, end = m.groups()
        first_row = int(start) if start else 1
        last_row = int(end) if end else None
    options: dict[str, Any] = {}
    if first_col:
        options["use_columns"] = f"{first_col.upper()}:{(last_col or first_col).upper()}"
    if c.header_row is None:
        options["header_row"] = None
        if first_row > 1:
            options["skip_rows"] = first_row - 1
        if last_row is not None:
            options["n_rows"] = last_row - first_row + 1
    else:
        header = first_row + c.header_row - 1
        options["header_row"] = header - 1
        if last_row is not None:
            options["n_rows"] = last_row - header
    if limit is not None:
        options["n_rows"] = min(options.get("n_rows", limit), limit)
    try:
        batch = book.load_sheet(sheet, **options).to_arrow()
    except Exception as exc:
        raise ConfigError(f"cannot read sheet {sheet!r}: {exc}", field="sheet") from exc
    table = pa.Table.from_batches([batch])
    return _name_merged_headers(_dates_stay_dates(table))


def _name_merged_headers(table: pa.Table) -> pa.Table:
    """A merged header cell names only its first column; name the others after it."""
    names: list[str] = []
    last = "column"
    counts: dict[str, int] = {}
    for name in table.column_names:
        if name.startswith("__UNNAMED__") or not name.strip():
            counts[last] = counts.get(last, 1) + 1
            names.append(f"{last}_{counts[last]}")
        else:
            last = name.strip()
            names.append(last)
    return table.rename_columns(names)


def _dates_stay_dates(table: pa.Table) -> pa.Table:
    """Calamine returns date cells as midnight timestamps: a column of only midnights is a
    date column."""
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            col = table.column(i)
            valid = col.drop_null()
            if len(valid) and pc.all(pc.equal(pc.cast(pc.cast(valid, pa.date32()), field.type),
                                              valid)).as_py():
                table = table.set_column(i, field.name, pc.cast(col, pa.date32()))
    return table
