"""`synth-pipeline run NAME`: one release DAG on the embedded defaults (Airflow on SQLite, local folders), with a
steward answering through a real Airflow API server that the command starts and stops.

A package of its own, beside `synth_pipeline`: it drives Airflow (a migrated metadata DB, `airflow api-server` and
`dag.test()` as subprocesses), which the pipeline library never does. `synth_pipeline.cli` registers its command
lazily (`synth_pipeline_local.cli` imports only argparse), so `synth-pipeline --help` stays fast and side-effect free.
"""
