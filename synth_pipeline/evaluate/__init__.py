"""Checks on a synthetic table: fidelity, workload utility and re-identification risk. Pure functions on
DataFrames; the steps in `synth_pipeline.steps.evaluate` read and write the run folder."""
