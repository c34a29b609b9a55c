#!/usr/bin/env bash
# Installs the Python packages the merge tests decode our outputs with (Perfetto's and
# OpenTelemetry's own message types: protobuf, perfetto, opentelemetry-proto) into a virtual
# environment at target/pyenv, which the tests use when it exists; without `venv`, into the
# user site of python3. Usage: bash tests/merge_support/setup-python.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(protobuf perfetto opentelemetry-proto)
probe='from perfetto.protos.perfetto.trace import perfetto_trace_pb2; from opentelemetry.proto.collector.trace.v1 import trace_service_pb2; from google.protobuf import json_format'
venv=target/pyenv
if [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >/dev/null 2>&1; then
    "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}"
    "$venv/bin/python" -c "$probe"
    echo "python packages for the merge tests: ready in $venv"
else
    rm -rf "$venv"
    python3 -m pip install -q --user --disable-pip-version-check "${packages[@]}"
    python3 -c "$probe"
    echo "python packages for the merge tests: ready in python3's user site"
fi
