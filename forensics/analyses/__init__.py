"""Analyses: small functions over an open dataset (`forensics.views.open_dataset`) that return
tables (Polars frames), and `findings(con)` functions that turn those tables into Findings.
"""
