"""The warehouse: where tags live (one partition a day) and audiences and exports are computed.

`base` is the engine-neutral interface, `queries` builds engine-neutral SQL (sqlglot), `duckdb`
is the embedded engine and `spark` the one for scale (its tables in `parquet_tables`); nothing
outside `duckdb` imports the DuckDB driver, nothing outside `spark` imports pyspark.
"""
