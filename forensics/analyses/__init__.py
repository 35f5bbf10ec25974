"""Analyses: small functions over an open dataset (`forensics.store.views.open_dataset`) that return
tables (Polars frames). `forensics.findings` turns those tables into findings, a module per
analysis of the same name.
"""
