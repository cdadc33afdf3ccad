#!/usr/bin/env bash
# Packs reid4j for a Linux x86-64 machine that has no Java and no Maven (a GPU box reached by upload only).
#
#   mvn -B -q -DskipTests package          # target/reid4j.jar + target/lib/*.jar
#   scripts/device-kit.sh OUT              # OUT/kit (< 60 MiB: JRE + jars + system libs) and OUT/gpu-natives
#   # upload OUT/kit and the repo, and OUT/gpu-natives (libtorch's CUDA natives, ~0.5 GB) or, where uploads are
#   # limited, OUT/gpu-natives-parts (the same jars in <= 55 MiB pieces; gpu-train-check.sh joins them); there:
#   scripts/gpu-train-check.sh OUT/kit OUT/gpu-natives      # (or OUT/gpu-natives-parts)
#
# OUT/kit/reid4j runs `java -cp reid4j.jar:lib/*:$REID4J_EXTRA_CP org.reid4j.cli.Main "$@"` with the kit's own
# jlink'd JRE 17; libtorch's natives are NOT in the kit: put the CPU natives jar
# (pytorch-*-linux-x86_64.jar) or the GPU one (pytorch-*-linux-x86_64-gpu.jar + cuda-*.jar) on REID4J_EXTRA_CP.
# Environment: BUILD_DIR (default: target, i.e. the -Dbuild.dir of the build), JAVA_HOME (a JDK 17 with jmods;
# default: the JDK of `javac`), KIT_MAX_MIB (default 60: above it a note says to send the kit in parts),
# M2 (default ~/.m2/repository),
# NO_GPU_NATIVES=1 to skip OUT/gpu-natives, SPLIT_MIB (default 55; 0 = no OUT/gpu-natives-parts).
# The kit holds reid4j.jar, lib/*.jar, the launcher `reid4j` and runtime.tar.xz (the jlink'd JRE and the
# system libraries its natives need, unpacked by the launcher on first use).
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -eq 1 && "$1" != -h && "$1" != --help ]] || { usage; exit 2; }
OUT="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$here/target}"
M2="${M2:-$HOME/.m2/repository}"
KIT_MAX_MIB="${KIT_MAX_MIB:-60}"
PT_VERSION=2.10.0-1.5.13
CUDA_VERSION=13.1-9.19-1.5.13

jar="$BUILD_DIR/reid4j.jar"
[[ -f "$jar" && -d "$BUILD_DIR/lib" ]] || { echo "device-kit: $jar or $BUILD_DIR/lib missing: run mvn -B -q -DskipTests package first" >&2; exit 1; }
if [[ -z "${JAVA_HOME:-}" ]]; then JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"; fi
[[ -x "$JAVA_HOME/bin/jlink" && -d "$JAVA_HOME/jmods" ]] || { echo "device-kit: $JAVA_HOME has no jlink or jmods/ (install a full JDK 17, e.g. openjdk-17-jdk-headless)" >&2; exit 1; }
"$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "17' || echo "device-kit: warning: $JAVA_HOME is not a JDK 17" >&2

kit="$OUT/kit"
rm -rf "$kit"
mkdir -p "$kit/lib"

echo "== jars (all of $BUILD_DIR/lib except libtorch's natives)"
cp "$jar" "$kit/reid4j.jar"
for f in "$BUILD_DIR"/lib/*.jar; do
  case "$(basename "$f")" in
    pytorch-*-linux-x86_64.jar|pytorch-*-linux-x86_64-gpu.jar|cuda-*-linux-x86_64*.jar) echo "   skip $(basename "$f")" ;;
    *) cp "$f" "$kit/lib/" ;;
  esac
done

echo "== modules (jdeps)"
cp_libs="$(ls "$kit"/lib/*.jar | paste -sd:)"
mods="$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --multi-release 17 --print-module-deps -q \
  --class-path "$cp_libs" "$kit/reid4j.jar" 2>/dev/null || true)"
# jdeps sees only the project's jar; libraries (javacpp: jdk.unsupported, sun.misc.Unsafe; jackson: java.sql
# optional types; pdfbox/xchart: java.desktop) are covered by the additions below. jdk.zipfs and
# jdk.crypto.ec cost little; java.management lets javacpp read the max direct memory; jdk.jfr gives the GPU
# check's flight recordings and the jfr tool that reads them.
mods="${mods:-java.base}"
for m in java.base java.desktop java.logging java.management java.xml java.naming java.sql jdk.unsupported jdk.zipfs \
    jdk.jfr; do
  [[ ",$mods," == *",$m,"* ]] || mods="$mods,$m"
done
echo "   $mods"

stage="$OUT/.stage"
rm -rf "$stage"
mkdir -p "$stage/runtime/syslib"
echo "== jlink"
# uncompressed modules (xz below compresses them far better than jlink's zip; and they load faster)
"$JAVA_HOME/bin/jlink" --add-modules "$mods" --strip-debug --no-header-files --no-man-pages --compress=0 \
  --output "$stage/runtime/jre"
if command -v strip >/dev/null; then find "$stage/runtime/jre" -name '*.so' -exec strip --strip-unneeded {} + 2>/dev/null || true; fi

echo "== system libraries the JRE's natives need (syslib)"
# the glibc set and the toolchain runtime are on every Linux that runs libtorch; everything else is copied.
# X11/ALSA/GTK front ends (xawt, splashscreen, jsound) never load in headless mode and are left out.
base_re='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s)\.'
declare -A seen=()
jre="$stage/runtime/jre"
for so in "$jre"/lib/*.so "$jre"/lib/server/*.so; do
  case "$(basename "$so")" in libawt_xawt.so|libsplashscreen.so|libjsound.so|libatk-wrapper.so|libjawt.so) continue ;; esac
  while read -r name _ path _; do
    if [[ "$path" != /* ]]; then
      [[ "$path" == not* ]] && echo "   warning: $(basename "$so"): $name not found"
      continue
    fi
    [[ "$name" =~ $base_re ]] && continue
    [[ "$path" == "$jre"/* ]] && continue
    [[ -n "${seen[$name]:-}" ]] && continue
    seen[$name]=1
    cp -L "$path" "$stage/runtime/syslib/$name"
  done < <(LD_LIBRARY_PATH="$jre/lib:$jre/lib/server" ldd "$so" 2>/dev/null | awk '/=>/ {print $1, $2, $3, $4}')
done
ls "$stage/runtime/syslib" | sed 's/^/   /'
echo "== runtime.tar.xz (jre $(du -sh "$jre" | cut -f1), syslib $(du -sh "$stage/runtime/syslib" | cut -f1) unpacked)"
tar -C "$stage" -cf - runtime | xz -T0 -9 > "$kit/runtime.tar.xz"
rm -rf "$stage"

cp "$here/scripts/launcher-env.sh" "$kit/launcher-env.sh"
cat > "$kit/reid4j" <<'LAUNCHER'
#!/usr/bin/env bash
# reid4j from a device kit: the kit's own JRE 17, its jars and system libraries; libtorch's natives come from
# REID4J_EXTRA_CP (colon-separated jars: pytorch-*-linux-x86_64[-gpu].jar and, for CUDA, cuda-*.jar).
# The first run unpacks runtime.tar.xz (JRE + system libraries) into the kit's runtime/ (or, where the kit is
# read-only, into ~/.cache/reid4j-kit-runtime-<size>); needs tar with xz, or python3.
# REID4J_JAVA_OPTS: JVM options (default -Xmx24g). OMP_WAIT_POLICY and glibc's malloc: launcher-env.sh.
set -euo pipefail
kit="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
rt="$kit/runtime"
if [[ ! -x "$rt/jre/bin/java" ]]; then
  if [[ ! -w "$kit" ]]; then rt="${XDG_CACHE_HOME:-$HOME/.cache}/reid4j-kit-runtime-$(stat -c %s "$kit/runtime.tar.xz")/runtime"; fi
  if [[ ! -x "$rt/jre/bin/java" ]]; then
    echo "reid4j: unpacking the kit's JRE into $rt ..." >&2
    parent="$(dirname "$rt")"
    mkdir -p "$parent"
    tmp="$(mktemp -d "$parent/.unpack.XXXXXX")"
    if ! tar -C "$tmp" -xJf "$kit/runtime.tar.xz" 2>/dev/null; then
      rm -rf "$tmp"/* && python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$kit/runtime.tar.xz" "$tmp"
    fi
    mv -T "$tmp/runtime" "$rt" 2>/dev/null || true  # another process may have won the race: its copy is as good
    rm -rf "$tmp"
  fi
fi
export LD_LIBRARY_PATH="$rt/syslib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
source "$kit/launcher-env.sh"
opts=(${REID4J_JAVA_OPTS:--Xmx24g})
cp="$kit/reid4j.jar:$kit/lib/*"
if [[ -n "${REID4J_EXTRA_CP:-}" ]]; then cp="$cp:$REID4J_EXTRA_CP"; fi
exec "$rt/jre/bin/java" -Djava.awt.headless=true "${opts[@]}" -cp "$cp" org.reid4j.cli.Main "$@"
LAUNCHER
chmod +x "$kit/reid4j"

size_kib="$(du -sk "$kit" | cut -f1)"
size_mib=$(( (size_kib + 1023) / 1024 ))
echo "== kit: $kit, $size_mib MiB (runtime.tar.xz $(du -sh "$kit/runtime.tar.xz" | cut -f1), lib $(du -sh "$kit/lib" | cut -f1), reid4j.jar $(du -sh "$kit/reid4j.jar" | cut -f1))"
if (( size_kib > KIT_MAX_MIB * 1024 )); then  # a fact about transport, not an error: the kit itself is complete
  echo "device-kit: note: the kit is $size_mib MiB, over one $KIT_MAX_MIB MiB upload; scripts/device-bundle.sh cuts" \
    "it (with the natives and the tests) into parts that are not" >&2
fi

if [[ "${NO_GPU_NATIVES:-0}" == 0 ]]; then
  echo "== gpu-natives"
  mkdir -p "$OUT/gpu-natives"
  fetch() { # groupPath artifact version classifier
    local f="$M2/$1/$3/$2-$3${4:+-$4}.jar"
    if [[ ! -f "$f" ]]; then
      (cd "$here" && mvn -B -q dependency:get -Dtransitive=false "-Dartifact=org.bytedeco:$2:$3:jar${4:+:$4}") >&2
    fi
    cp -u "$f" "$OUT/gpu-natives/"
  }
  fetch org/bytedeco/pytorch pytorch "$PT_VERSION" linux-x86_64-gpu
  fetch org/bytedeco/cuda cuda "$CUDA_VERSION" ""
  fetch org/bytedeco/cuda cuda "$CUDA_VERSION" linux-x86_64
  ls -l "$OUT/gpu-natives" | tail -n +2 | awk '{printf "   %-50s %6.0f MiB\n", $9, $5/1048576}'
  SPLIT_MIB="${SPLIT_MIB:-55}"
  if (( SPLIT_MIB > 0 )); then
    # uploads are limited in size: the same jars cut into SPLIT_MIB pieces (NAME.jar.part-00, -01, ...) with
    # SHA256SUMS of the whole jars; gpu-train-check.sh joins and checks them
    parts="$OUT/gpu-natives-parts"
    rm -rf "$parts"
    mkdir -p "$parts"
    for f in "$OUT"/gpu-natives/*.jar; do
      b="$(basename "$f")"
      if (( $(stat -c %s "$f") > SPLIT_MIB * 1048576 )); then split -d -a 2 -b "${SPLIT_MIB}M" "$f" "$parts/$b.part-"
      else cp "$f" "$parts/"; fi
    done
    (cd "$OUT/gpu-natives" && sha256sum *.jar) > "$parts/SHA256SUMS"
    echo "== gpu-natives-parts: $(ls "$parts" | wc -l) files of at most ${SPLIT_MIB} MiB in $parts"
  fi
fi
echo "== device-kit: OK"
