#!/usr/bin/env bash
# Builds reid4j, installs it into the local Maven repository, builds the JMH benchmarks and runs them.
# Arguments go to JMH, e.g.:  benchmarks/run.sh DistanceBenchmark -p shape=market
#                             benchmarks/run.sh -l          (list)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(cd "$root" && mvn -B -q -DskipTests install)
(cd "$root/benchmarks" && mvn -B -q package)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec java -Xmx12g -cp "$root/benchmarks/target/classes:$root/benchmarks/target/lib/*" org.openjdk.jmh.Main "$@"
