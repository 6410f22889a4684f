"""LuminaQuant Dagster definitions: thin assets, checks, resources, schedules, sensors, jobs."""
