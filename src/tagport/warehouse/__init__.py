"""The warehouse: where tags live (one partition a day) and audiences and exports are computed.

`base` is the engine-neutral interface, `queries` builds engine-neutral SQL (sqlglot), `duckdb`
is the embedded engine; nothing outside `duckdb` imports the DuckDB driver.
"""
