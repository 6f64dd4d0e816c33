"""Settings and model configs: the bottom floor, importing nothing from checks/ or flows/."""
