#!/usr/bin/env bash
# `make bench`: mlengine's analyzers against the same tools run one after
# another. Extra arguments go to the Go program (see internal/bench), e.g.
#   bash bench/run.sh -rounds 3 -minutes 3
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/filesight-bench ./bench
exec bin/filesight-bench -script bench/sequential.sh "$@"
