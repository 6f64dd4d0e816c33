"""The pure core: DataFrames and config models in, frozen typed results out. No Prefect, no I/O."""
