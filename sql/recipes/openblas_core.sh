# sql/recipes/openblas_core.sh: sourced by the recipe scripts (build.sh, curve.sh).
# OpenBLAS picks slow generic kernels on CPUs newer than it knows; training sets
# OPENBLAS_CORETYPE=SkylakeX when the CPU has AVX-512 and Haswell when it has AVX2 only.
# A value already set is kept, except Haswell (AVX2) on a CPU with AVX-512: some machines
# preset it, and on the AMD EPYC (Zen 5) of 2026-12-07 it made the trainer's sgemm 2.8 times
# slower than SkylakeX (35 against 98 GFLOP/s, one thread, 1024x256 by 256x768).
# ATTN_KEEP_CORETYPE=1 keeps any value as it is.
if grep -qw avx512f /proc/cpuinfo; then cpu_core=SkylakeX
elif grep -qw avx2 /proc/cpuinfo; then cpu_core=Haswell
else cpu_core=; fi
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -n "$cpu_core" ]; then
    export OPENBLAS_CORETYPE=$cpu_core
elif [ "${OPENBLAS_CORETYPE:-}" = Haswell ] && [ "$cpu_core" = SkylakeX ] &&
     [ -z "${ATTN_KEEP_CORETYPE:-}" ]; then
    echo "openblas_core.sh: OPENBLAS_CORETYPE=Haswell on a CPU with AVX-512: training with" \
         "SkylakeX (ATTN_KEEP_CORETYPE=1 keeps Haswell)" >&2
    export OPENBLAS_CORETYPE=SkylakeX
fi
unset cpu_core
