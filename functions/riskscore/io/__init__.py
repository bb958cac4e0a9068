"""Storage and services: the model store (local and `gs://`), Parquet/CSV files at a path or a
`gs://` URI, the BigQuery clients, and the one structured log writer. Imports nothing above it."""
