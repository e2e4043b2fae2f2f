"""Dagster definitions for cranium-etl: resources, assets, the nightly job and its schedule."""
