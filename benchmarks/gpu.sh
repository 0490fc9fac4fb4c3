#!/usr/bin/env bash
# The prepared accelerator run (a few minutes on one GPU): MNIST to 98.4% and a large MLP against the matmul rate, each
# in float32 and in bfloat16 products; MNIST twice with XLA's deterministic-ops flag; the epoch's loop unrolled 1-8.
# Needs jax (with CUDA), optax and numpy; the MNIST IDX files in $JAXNET_DATA_DIR (default: device/mnist, a
# git-ignored folder to copy them into when the data has to travel with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
export JAXNET_DATA_DIR="${JAXNET_DATA_DIR:-$PWD/device/mnist}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec "${PYTHON:-python3}" -m benchmarks.gpu "$@"
