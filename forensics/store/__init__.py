"""The on-disk dataset: `dataset` writes its Parquet parts and manifest, `views` opens it for
querying (a DuckDB view per table, cut to the incident)."""
