#!/bin/sh
# Installs ONNX Runtime's Node.js binding (CPU; libonnxruntime.so is inside
# the package) into tools/ort/node_modules, for tools/ort/run.js and the test
# export_onnx (tests/test_export_onnx.c), and for the benchmark peer.
# --ignore-scripts: the package's install script only fetches optional GPU
# files from a host outside the npm registry.  Needs node and npm (Debian:
# nodejs npm).  Does nothing when the version is already there.
set -e
cd "$(dirname "$0")"
VERSION=1.30.0
if [ -f node_modules/onnxruntime-node/package.json ] &&
    grep -q "\"version\": *\"$VERSION\"" node_modules/onnxruntime-node/package.json; then
    exit 0
fi
command -v npm >/dev/null || { echo "tools/ort/install.sh: npm not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
npm install --no-save --ignore-scripts --no-package-lock --no-audit --no-fund "onnxruntime-node@$VERSION" >&2
node -e "require('onnxruntime-node')" || { echo "tools/ort/install.sh: onnxruntime-node does not load" >&2; exit 1; }
