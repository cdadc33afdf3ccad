#!/usr/bin/env bash
# HNSW candidates for re-ranking (eval --candidates hnsw): graph build/search time, graph size and recall@k1
# against exact on a sample, through benchmarks/.../HnswCandidatesBench.java compiled against target/reid4j.jar
# (no install into the local Maven repository). Arguments go to the driver, e.g.
#   benchmarks/hnsw-candidates.sh synth 1000000 256 16 200     (1M x 256 synthetic, m 16, ef 200)
#   benchmarks/hnsw-candidates.sh dir /tmp/market 16 200       (a feature folder from `reid4j synth`)
# JAVA (default: java on PATH) picks the JVM; on Java 21+ Lucene's Panama vector code is switched on.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ -f "$root/target/reid4j.jar" ]] || (cd "$root" && mvn -B -q -DskipTests package)
out="$root/benchmarks/target/hnsw-classes"
mkdir -p "$out"
javac -q -d "$out" -cp "$root/target/reid4j.jar:$root/target/lib/*" \
  "$root/benchmarks/src/main/java/org/reid4j/bench/HnswCandidatesBench.java" 2>/dev/null \
  || javac -d "$out" -cp "$root/target/reid4j.jar:$root/target/lib/*" \
  "$root/benchmarks/src/main/java/org/reid4j/bench/HnswCandidatesBench.java"
java_bin="${JAVA:-java}"
major="$("$java_bin" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
opts=(${REID4J_JAVA_OPTS:--Xmx16g})
if [[ "${major:-17}" -ge 21 ]]; then
  opts+=(--add-modules jdk.incubator.vector -Dorg.apache.lucene.vectorization.upperJavaFeatureVersion="$major"
    --enable-native-access=ALL-UNNAMED)
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$java_bin" "${opts[@]}" -cp "$out:$root/target/reid4j.jar:$root/target/lib/*" org.reid4j.bench.HnswCandidatesBench "$@"
