"""Brian2 functions for the counter-based random numbers of `bioclf.encoding.hashrng`.

``bioclf_hash(a, b)``
    Combine two 32-bit keys (held in float64 variables, exact below 2**53).
``bioclf_uniform(key, i)``
    A uniform number in [0, 1) for neuron ``i`` at a step key.
``bioclf_latency(x, n)``
    Spike step of a pixel of intensity ``x`` in a latency-coded window of ``n`` steps, or -1
    (`bioclf.encoding.latency`).
``bioclf_stop(x)``
    Ends the current run after this time step (C++, numpy, Cython; a no-op in CUDA).

Each has numpy, Cython, C++ and CUDA implementations computing the same bits.
"""

from __future__ import annotations

import numpy as np
from brian2 import Function

from bioclf.encoding import hashrng
from bioclf.encoding.latency import THRESHOLD

# Each function carries its own copy of the mixer (suffix _h / _u), so that a code object
# using both does not define the same helper twice.
_MIX = """
{qual} uint32_t _bioclf_mix32{sfx}(uint32_t x)
{{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}}
"""
_CPP_BODY = {
    "bioclf_hash": """
{qual} double bioclf_hash(double a, double b)
{{
    return (double)_bioclf_mix32_h(((uint32_t)a) ^ _bioclf_mix32_h((uint32_t)b));
}}
""",
    "bioclf_uniform": """
{qual} double bioclf_uniform(double key, int32_t i)
{{
    return (double)_bioclf_mix32_u(((uint32_t)key) ^ (uint32_t)i) * 2.3283064365386963e-10;
}}
""",
}
_CYTHON_MIX = """
cdef inline unsigned int _bioclf_mix32{sfx}(unsigned int x):
    x ^= x >> 16
    x *= 0x7feb352d
    x ^= x >> 15
    x *= 0x846ca68b
    x ^= x >> 16
    return x
"""
_CYTHON_BODY = {
    "bioclf_hash": """
cdef inline double bioclf_hash(double a, double b):
    return <double>_bioclf_mix32_h((<unsigned int>a) ^ _bioclf_mix32_h(<unsigned int>b))
""",
    "bioclf_uniform": """
cdef inline double bioclf_uniform(double key, int i):
    return <double>_bioclf_mix32_u((<unsigned int>key) ^ (<unsigned int>i)) * 2.3283064365386963e-10
""",
}


def _hash_numpy(a, b):
    return hashrng.hash2(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).astype(
        np.float64
    )


def _uniform_numpy(key, i):
    return hashrng.uniform(np.asarray(key, dtype=np.float64), i)


def _dimensionless(func: Function) -> Function:
    """`func` with its numpy implementation called as is: Brian2's default wrapper checks the
    result's units on every call and formats the whole array into the message of that check
    even when it passes (30-40% of a small network's run on the runtime backend:
    bench/bench_runtime.py).
    Every function here takes and returns plain numbers."""
    func.implementations.add_numpy_implementation(func.pyfunc, discard_units=True)
    return func


def _make(pyfunc, name, arg_types):
    func = _dimensionless(
        Function(
            pyfunc,
            arg_units=[1, 1],
            return_unit=1,
            arg_types=arg_types,
            return_type="float",
            stateless=True,
        )
    )
    sfx = "_h" if name == "bioclf_hash" else "_u"
    for target, qual in (("cpp", "static inline"), ("cuda", "__host__ __device__ static inline")):
        code = (_MIX + _CPP_BODY[name]).format(qual=qual, sfx=sfx)
        func.implementations.add_implementation(
            target, code={"support_code": code, "hashdefine_code": ""}, name=name
        )
    cython = (_CYTHON_MIX + _CYTHON_BODY[name]).format(sfx=sfx)
    func.implementations.add_implementation("cython", code=cython, name=name)
    return func


def _latency_numpy(x, n):
    x = np.asarray(x, dtype=np.float64)
    k = np.floor((1.0 - np.minimum(x, 1.0)) * (np.asarray(n, dtype=np.float64) - 1.0))
    return np.where(x > THRESHOLD, k, -1.0)


# The float64 expression of `bioclf.encoding.latency.latency_steps`, step for step.
_LATENCY = """
{qual} double bioclf_latency(double x, double n)
{{
    if (!(x > {threshold!r}))
        return -1.0;
    return floor((1.0 - (x < 1.0 ? x : 1.0)) * (n - 1.0));
}}
"""
_LATENCY_CYTHON = """
from libc.math cimport floor
cdef inline double bioclf_latency(double x, double n):
    if not (x > {threshold!r}):
        return -1.0
    return floor((1.0 - (x if x < 1.0 else 1.0)) * (n - 1.0))
"""


def _make_latency():
    func = _dimensionless(
        Function(
            _latency_numpy,
            arg_units=[1, 1],
            return_unit=1,
            arg_types=["any", "any"],
            return_type="float",
            stateless=True,
        )
    )
    for target, qual in (("cpp", "static inline"), ("cuda", "__host__ __device__ static inline")):
        code = _LATENCY.format(qual=qual, threshold=float(THRESHOLD))
        func.implementations.add_implementation(
            target, code={"support_code": code, "hashdefine_code": ""}, name="bioclf_latency"
        )
    func.implementations.add_implementation(
        "cython", code=_LATENCY_CYTHON.format(threshold=float(THRESHOLD)), name="bioclf_latency"
    )
    return func


def _stop_numpy(x):
    from brian2.core.network import Network

    # numpy code calls this once with the (possibly empty) array of event indices.
    if np.size(x):
        Network._globally_stopped = True
    return np.asarray(x, dtype=np.float64)


_STOP_CPP = """
#include "network.h"
static inline double bioclf_stop(double x)
{
    Network::_globally_stopped = true;
    return x;
}
"""
# In CUDA the event code runs on the device, which cannot end the host's loop: there the
# network simply idles until the end of the run.
_STOP_CUDA = """
__host__ __device__ static inline double bioclf_stop(double x)
{
    return x;
}
"""
_STOP_CYTHON = """
cdef double bioclf_stop(double x):
    from brian2.core.network import Network
    Network._globally_stopped = True
    return x
"""


def _make_stop():
    """``bioclf_stop(i)``: end the current run after this time step (returns i).

    Pass a per-neuron value such as ``i``, so that the call happens only for actual events.
    """
    func = _dimensionless(
        Function(
            _stop_numpy,
            arg_units=[1],
            return_unit=1,
            arg_types=["any"],
            return_type="float",
            stateless=False,
        )
    )
    func.implementations.add_implementation(
        "cpp", code={"support_code": _STOP_CPP, "hashdefine_code": ""}, name="bioclf_stop"
    )
    func.implementations.add_implementation(
        "cuda", code={"support_code": _STOP_CUDA, "hashdefine_code": ""}, name="bioclf_stop"
    )
    func.implementations.add_implementation("cython", code=_STOP_CYTHON, name="bioclf_stop")
    return func


bioclf_stop = _make_stop()
bioclf_hash = _make(_hash_numpy, "bioclf_hash", ["any", "any"])
bioclf_uniform = _make(_uniform_numpy, "bioclf_uniform", ["any", "integer"])
bioclf_latency = _make_latency()

#: Namespace entries to add to any group that uses these functions.
NAMESPACE = {
    "bioclf_hash": bioclf_hash,
    "bioclf_uniform": bioclf_uniform,
    "bioclf_latency": bioclf_latency,
}
CONTROL = {"bioclf_stop": bioclf_stop}
