#!/usr/bin/env bash
# Installs the Python packages the merge tests decode our outputs with (Perfetto's and
# OpenTelemetry's own message types) into a virtual environment at target/pyenv, which the
# tests use when it exists. Usage: bash tests/merge_support/setup-python.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check protobuf perfetto opentelemetry-proto
"$venv/bin/python" -c 'from perfetto.protos.perfetto.trace import perfetto_trace_pb2; from opentelemetry.proto.collector.trace.v1 import trace_service_pb2'
echo "python packages for the merge tests: ready in $venv"
