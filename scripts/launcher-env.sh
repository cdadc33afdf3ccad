# Sourced by the reid4j launchers (./reid4j, spark/reid4j-spark, a device kit's reid4j): the process
# environment that the native code (libtorch, OpenMP, the kernels) runs best with. Each setting
# leaves a value the user already set alone.

# OpenMP threads that spin after a kernel slow everything else on small machines.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

# glibc's malloc gives freed memory back to the kernel (it trims each heap's free top and maps
# blocks above a threshold separately), and libtorch frees and allocates its tensors anew every
# step, so each step faulted the same memory in again: on the 2-core cloud VM measured, ~10 us of
# kernel time a 4 KiB page, a quarter of the CPU time of a quick-start run. Keeping it (blocks up to
# 32 MiB in the heaps, 64 MiB of free top kept per heap, no trimming below 4 GiB) cut the faults ten
# times. REID4J_MALLOC=system keeps glibc's defaults; a GLIBC_TUNABLES of the user's own wins.
case "${REID4J_MALLOC:-keep}" in
  keep)
    if [[ -z "${GLIBC_TUNABLES:-}" ]]; then
      export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=67108864:glibc.malloc.trim_threshold=4294967296
    fi
    ;;
  system) ;;
  *)
    echo "reid4j: REID4J_MALLOC=${REID4J_MALLOC} is not one of keep, system" >&2
    exit 2
    ;;
esac
