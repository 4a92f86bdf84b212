# The production image: Airflow's own, with this project installed from the same lock as the tests and the demo
# (pyproject.toml pins the direct dependencies, constraints.txt everything beneath them). Not
# _PIP_ADDITIONAL_REQUIREMENTS: that reinstalls at every container start and floats with the index.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/synth-pipeline
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:0 synth_pipeline ./synth_pipeline
# torch==2.13.0 from PyTorch's CPU index: the PyPI wheel for x86_64 carries CUDA (several GB this image never uses).
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt .
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 releases ./releases
COPY --chown=airflow:0 expectations ./expectations
COPY --chown=airflow:0 config ./config
COPY --chown=airflow:0 data ./data
