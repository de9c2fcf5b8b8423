#!/usr/bin/env bash
# `make bench`: every figure of docs/benchmarks.md against its baseline of
# the same run. Extra arguments (flags first, then figure names) go to the
# Go program (internal/bench, docs/benchmarks.md), e.g.
#   bash bench/run.sh -rounds 3 mlengine
#   bash bench/run.sh -files 100 orchestration starter
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/filesight-bench ./bench
exec bin/filesight-bench -script bench/sequential.sh "$@"
