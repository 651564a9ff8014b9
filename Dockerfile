# The Kubeflow pipeline image: tensorflow/tfx:1.16.0 (TFX, TensorFlow with CUDA for the GPU
# Trainer, the Beam SDK harness as entrypoint) plus this package and its locked dependencies.
# Build and push: docs/kubeflow.md. Every step of the compiled pipeline runs in this image, and
# Dataflow/Flink workers use it too (--sdk_container_image, added by PipelineConfig).

# The Beam SDK harness of the apache-beam in requirements.lock (a worker's harness and SDK must
# match): --build-arg BEAM_VERSION=$(sed -n 's/^apache-beam==//p' requirements.lock)
ARG BEAM_VERSION
FROM apache/beam_python3.10_sdk:${BEAM_VERSION} AS beam

FROM tensorflow/tfx:1.16.0
COPY --from=beam /opt/apache/beam /opt/apache/beam

ENV TF_USE_LEGACY_KERAS=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# kubeflow/runner.py IMAGE_SOURCE_DIR: the compiled spec reads
# /pipeline/colorization/schema/schema.pbtxt.
WORKDIR /pipeline
COPY requirements.lock .
RUN python -m pip install -r requirements.lock
COPY . .
# The import check runs outside /pipeline, as Beam workers do: it proves the installed package.
RUN python -m pip install --no-deps . \
    && cd / && python -c "import colorization.components.image_example_gen, colorization.models.trainer"
