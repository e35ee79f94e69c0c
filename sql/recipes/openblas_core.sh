# sql/recipes/openblas_core.sh: sourced by the recipe scripts (build.sh, curve.sh).
# OpenBLAS picks slow generic kernels on CPUs newer than it knows; training sets
# OPENBLAS_CORETYPE=SkylakeX when the CPU has AVX-512 and Haswell when it has AVX2 only,
# unless the variable is already set.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
