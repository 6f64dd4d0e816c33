"""Where the world is touched: Prefect flows and tasks, sources, the store, reports and the CLI."""
