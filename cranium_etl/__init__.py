"""Export a Cranium tenant's AI Bills of Materials to Parquet with Dagster."""
