"""The TFX pipeline: config, DAG and runners."""
