# cython: language_level=3
"""Memory fastctx keeps for reuse: the pool of dropped mappings, shared by the parse kernel's
column buffers and the render kernel's output.

A page the process already holds costs nothing to write again, while a fresh one costs a
fault and, on a VM, the host backing it (writing fresh memory ran at about 2 GB/s here,
reused at 8-12). An Arrow memory pool (jemalloc, mimalloc) keeps freed memory for the same
reason. So the mappings of dropped results are kept, up to a limit (``memory_pool_limit``),
and the next parse or render that fits takes one.

A rendered output is a ``bytes``. From ``map_min()`` bytes up (where the platform has
``mremap``) it is a ``PooledBytes``: a ``bytes`` subclass laid out as ``bytes`` is, whose
object lives at the start of a mapping, so that dropping it gives the mapping back to the
pool instead of to the system. It behaves as ``bytes`` in every way but its type; pickling
or copying one, or ``fromhex``, gives a plain ``bytes``. When the system refuses memory, the
pool is released and the request made again: memory kept for reuse never makes a call fail.

Only touched under the GIL: buffers and outputs are created, resized and dropped holding it.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.string cimport memcpy, memmove

__all__ = ["PooledBytes", "memory_pool_limit", "release_memory"]


cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject** o, Py_ssize_t n)


cdef extern from *:
    """
    #include <stddef.h>
    /* A PooledBytes sits FASTCTX_OUT_HEAD bytes into its mapping, whose size the first word
       holds (32 keeps the object as aligned as malloc would). */
    #define FASTCTX_OUT_HEAD 32
    #define FASTCTX_BYTES_HEAD ((Py_ssize_t)offsetof(PyBytesObject, ob_sval))

    /* Gives a dropped PooledBytes' mapping back (set by the module to `output_release`). */
    static void (*fastctx_out_release)(void *base, Py_ssize_t cap) = NULL;

    static void fastctx_pooled_dealloc(PyObject *op) {
        char *base = (char *)op - FASTCTX_OUT_HEAD;
        fastctx_out_release(base, *(Py_ssize_t *)base);
    }

    static PyObject *fastctx_pooled_reduce(PyObject *self, PyObject *unused) {
        PyObject *copy = PyBytes_FromStringAndSize(PyBytes_AS_STRING(self), PyBytes_GET_SIZE(self));
        (void)unused;
        if (copy == NULL) return NULL;
        return Py_BuildValue("(O(N))", (PyObject *)&PyBytes_Type, copy);
    }

    /* bytes.fromhex makes an instance of the class it is called on, which cannot be
       made from Python: a plain bytes instead. */
    static PyObject *fastctx_pooled_fromhex(PyObject *cls, PyObject *text) {
        (void)cls;
        return PyObject_CallMethod((PyObject *)&PyBytes_Type, "fromhex", "O", text);
    }

    static PyMethodDef fastctx_pooled_methods[] = {
        {"__reduce__", (PyCFunction)fastctx_pooled_reduce, METH_NOARGS,
         "Pickle and copy as a plain bytes."},
        {"fromhex", (PyCFunction)fastctx_pooled_fromhex, METH_O | METH_CLASS,
         "bytes.fromhex: a plain bytes."},
        {NULL, NULL, 0, NULL}
    };

    static PyTypeObject FastctxPooledBytes_Type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        "fastctx._memory.PooledBytes",  /* tp_name */
    };

    /* Fill in and ready the type: a final subclass of bytes with bytes' layout; it cannot be
       created from Python (no tp_new), only by `fastctx_pooled_set`. */
    static int fastctx_pooled_ready(void) {
        PyTypeObject *t = &FastctxPooledBytes_Type;
        t->tp_basicsize = PyBytes_Type.tp_basicsize;
        t->tp_itemsize = PyBytes_Type.tp_itemsize;
        t->tp_dealloc = fastctx_pooled_dealloc;
        t->tp_flags = Py_TPFLAGS_DEFAULT;
        t->tp_doc = "bytes whose memory goes back to fastctx's memory pool when dropped";
        t->tp_methods = fastctx_pooled_methods;
        t->tp_base = &PyBytes_Type;
        if (PyType_Ready(t) < 0) return -1;
        t->tp_new = NULL;  /* PyType_Ready inherited bytes' */
        return 0;
    }

    /* (Re)state the object of size n at base + FASTCTX_OUT_HEAD in a mapping of cap bytes. */
    static PyObject *fastctx_pooled_set(char *base, Py_ssize_t cap, Py_ssize_t n, int init) {
        PyBytesObject *op = (PyBytesObject *)(base + FASTCTX_OUT_HEAD);
        *(Py_ssize_t *)base = cap;
        if (init) {
            PyObject_InitVar((PyVarObject *)op, &FastctxPooledBytes_Type, n);
        } else {
            Py_SET_SIZE(op, n);
        }
    #if defined(__GNUC__) || defined(__clang__)
    #  pragma GCC diagnostic push
    #  pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    #endif
        op->ob_shash = -1;  /* bytes' hash cache: not computed */
    #if defined(__GNUC__) || defined(__clang__)
    #  pragma GCC diagnostic pop
    #endif
        op->ob_sval[n] = '\\0';
        return (PyObject *)op;
    }

    static int fastctx_is_pooled(PyObject *op) {
        return Py_TYPE(op) == &FastctxPooledBytes_Type;
    }
    """
    PyObject *FastctxPooledBytes_Type_ptr "(PyObject *)&FastctxPooledBytes_Type"
    Py_ssize_t OUT_HEAD "FASTCTX_OUT_HEAD"
    Py_ssize_t BYTES_HEAD "FASTCTX_BYTES_HEAD"
    void (*fastctx_out_release)(void *base, Py_ssize_t cap) noexcept
    int fastctx_pooled_ready() except -1
    PyObject *fastctx_pooled_set(char *base, Py_ssize_t cap, Py_ssize_t n, int init) noexcept
    bint fastctx_is_pooled(PyObject *op) noexcept


CAN_MAP = bool(FASTCTX_CAN_MAP)

# A buffer this large or larger gets its own mapping (where the platform has mremap).
cdef Py_ssize_t MAP_MIN = 4 << 20


cdef Py_ssize_t map_min() noexcept:
    return MAP_MIN


def _map_min(size=None):
    """The size from which a column buffer or a rendered output gets its own mapping; with
    ``size``, set it and return the old one (tests lower it so that small calls go through
    the pool)."""
    global MAP_MIN
    cdef Py_ssize_t old = MAP_MIN
    if size is not None:
        MAP_MIN = max(1, size)
    return old


# -- the pool of mappings -------------------------------------------------------------------------

cdef enum:
    POOL_SLOTS = 64
cdef void *pool_ptr[POOL_SLOTS]   # oldest first
cdef Py_ssize_t pool_cap[POOL_SLOTS]
cdef int pool_count = 0
cdef Py_ssize_t pool_bytes = 0
cdef Py_ssize_t pool_limit = 512 << 20


cdef void pool_remove(int k) noexcept:
    global pool_count, pool_bytes
    pool_bytes -= pool_cap[k]
    pool_count -= 1
    memmove(&pool_ptr[k], &pool_ptr[k + 1], <size_t>(pool_count - k) * sizeof(void *))
    memmove(&pool_cap[k], &pool_cap[k + 1], <size_t>(pool_count - k) * sizeof(Py_ssize_t))


cdef void *pool_pop(int k) noexcept:
    """Take mapping ``k`` out of the pool."""
    cdef void *p = pool_ptr[k]
    pool_remove(k)
    return p


cdef void pool_trim(Py_ssize_t keep, int slots) noexcept:
    """Unmap the oldest mappings until the pool holds at most ``keep`` bytes in at most
    ``slots`` mappings."""
    while pool_count > 0 and (pool_bytes > keep or pool_count > slots):
        fastctx_unmap(pool_ptr[0], <size_t>pool_cap[0])
        pool_remove(0)


cdef void pool_give(void *p, Py_ssize_t cap) noexcept:
    """Keep a mapping for later, or unmap it (the oldest go first when the pool is full)."""
    global pool_count, pool_bytes
    if cap > pool_limit:
        fastctx_unmap(p, <size_t>cap)
        return
    pool_trim(pool_limit - cap, POOL_SLOTS - 1)
    pool_ptr[pool_count] = p
    pool_cap[pool_count] = cap
    pool_count += 1
    pool_bytes += cap


cdef int pool_take(Py_ssize_t cap, Py_ssize_t *got, bint fresh) noexcept:
    """The pooled mapping that fits ``cap`` best, or -1. For a ``fresh`` buffer: the smallest
    that holds it and is at most 4x larger, else the largest smaller one (grown by the
    caller). For a growing one: the smallest that holds it (``array`` trims what is left)."""
    cdef int k, best = -1, below = -1
    for k in range(pool_count):
        if pool_cap[k] >= cap:
            if (not fresh or pool_cap[k] <= 4 * cap) and (best < 0 or pool_cap[k] < pool_cap[best]):
                best = k
        elif below < 0 or pool_cap[k] > pool_cap[below]:
            below = k
    if best < 0 and fresh:
        best = below
    if best >= 0:
        got[0] = pool_cap[best]
    return best


cdef void *map_new(size_t n, int huge) noexcept:
    """A new mapping of ``n`` bytes (``huge``: with the huge-page hint), or NULL. When the
    system refuses it, the pool's mappings are released and it is asked again: memory kept
    for reuse must not make a call fail."""
    cdef void *p = fastctx_map_hint(n, huge)
    if p == NULL and pool_count:
        pool_trim(0, 0)
        p = fastctx_map_hint(n, huge)
    return p


cdef void *map_grow(void *p, size_t old, size_t n) noexcept:
    """``fastctx_remap`` that releases the pool and tries again when it fails."""
    cdef void *q = fastctx_remap(p, old, n)
    if q == NULL and pool_count:
        pool_trim(0, 0)
        q = fastctx_remap(p, old, n)
    return q


cdef void *pool_fetch(Py_ssize_t cap, Py_ssize_t *got) noexcept:
    """A pooled mapping for a new buffer of ``cap`` bytes (the best fit, grown to ``cap`` if
    it is smaller), its size in ``got``; NULL if none fits or growing it failed (it is then
    unmapped: a new mapping will not fit either, most likely, and the caller reports that)."""
    cdef int k = pool_take(cap, got, True)
    cdef void *p
    cdef void *grown
    if k < 0:
        return NULL
    p = pool_pop(k)
    if got[0] < cap:
        grown = map_grow(p, <size_t>got[0], <size_t>cap)
        if grown == NULL:
            fastctx_unmap(p, <size_t>got[0])
            return NULL
        p = grown
        got[0] = cap
    return p


def release_memory():
    """Unmap the memory fastctx keeps from dropped results (parsed columns, rendered
    outputs) for the next parse or render; the number of bytes released."""
    cdef Py_ssize_t released = pool_bytes
    pool_trim(0, 0)
    return released


def memory_pool_limit(limit=None):
    """The most bytes of dropped column and output memory kept for reuse (default 512 MiB, or
    ``FASTCTX_MEMORY_POOL`` at import); with ``limit``, set it (0 keeps none) and return the
    old value."""
    global pool_limit
    cdef Py_ssize_t old = pool_limit
    if limit is not None:
        if limit < 0:
            raise ValueError(f"a memory pool limit is a number of bytes >= 0, not {limit!r}")
        pool_limit = limit
        pool_trim(pool_limit, POOL_SLOTS)
    return old


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _limit_from_env():
    """``FASTCTX_MEMORY_POOL`` (bytes, or with a K, M or G suffix: ``0``, ``64M``, ``2G``), read
    once at import; a value that is not one is reported and the default kept."""
    import os
    import re
    import warnings

    text = os.environ.get("FASTCTX_MEMORY_POOL")
    if text is None:
        return
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text, re.IGNORECASE)
    if match is None:
        warnings.warn(f"FASTCTX_MEMORY_POOL={text!r} is not a size (bytes, or e.g. 64M, 2G); "
                      f"keeping {pool_limit >> 20} MiB", RuntimeWarning, stacklevel=2)
        return
    try:
        memory_pool_limit(int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
    except OverflowError:
        warnings.warn(f"FASTCTX_MEMORY_POOL={text!r} is too large; keeping {pool_limit >> 20} MiB",
                      RuntimeWarning, stacklevel=2)


_limit_from_env()


def _pool_state():
    """``(mappings, bytes)`` held by the pool (for tests)."""
    return pool_count, pool_bytes


# Bytes the live column buffers and pooled outputs were sized to, and the most since
# ``_held_peak`` was last reset: what a call allocated, which the resident set does not show
# when it reuses memory the process kept (the benchmark's memory column takes the larger).
cdef Py_ssize_t held_bytes = 0
cdef Py_ssize_t held_peak = 0


cdef void held_change(Py_ssize_t delta) noexcept:
    global held_bytes, held_peak
    held_bytes += delta
    if held_bytes > held_peak:
        held_peak = held_bytes


def _held_peak(reset=False):
    """The most bytes held by column buffers and outputs at once since the last reset (then,
    with ``reset``, start again from what is held now)."""
    global held_peak
    cdef Py_ssize_t peak = held_peak
    if reset:
        held_peak = held_bytes
    return peak


def _held_bytes():
    """Bytes held by live column buffers and outputs now."""
    return held_bytes


# -- rendered outputs -----------------------------------------------------------------------------

fastctx_pooled_ready()
PooledBytes = <object>FastctxPooledBytes_Type_ptr


cdef void output_release(void *base, Py_ssize_t cap) noexcept:
    held_change(-cap)
    fastctx_map_rejoin(base, <size_t>cap)  # a parse taking it may grow it with mremap
    pool_give(base, cap)


fastctx_out_release = output_release


cdef inline Py_ssize_t output_span(Py_ssize_t n) noexcept:
    """The mapping size that holds an output of ``n`` bytes."""
    return (OUT_HEAD + BYTES_HEAD + n + 1 + MAP_PAGE - 1) // MAP_PAGE * MAP_PAGE


cdef object output_new(Py_ssize_t n, bint *fresh):
    """A ``bytes`` of ``n`` bytes to be written before anyone else sees it (its contents are
    undefined). From ``MAP_MIN`` bytes, a ``PooledBytes`` in a pooled mapping where one fits
    (``fresh[0]`` false: its pages are most likely resident) or a new one without a huge-page
    hint (the render kernel decides how to fault it in)."""
    cdef Py_ssize_t cap, got = 0
    cdef char *base
    fresh[0] = True
    if n < 0:
        raise ValueError(f"an output size is >= 0, not {n}")
    if not FASTCTX_CAN_MAP or n < MAP_MIN:
        return PyBytes_FromStringAndSize(NULL, n)
    cap = output_span(n)
    base = <char *>pool_fetch(cap, &got)
    fresh[0] = base == NULL
    if base == NULL:
        base = <char *>map_new(<size_t>cap, 0)
        if base == NULL:
            raise MemoryError(f"cannot allocate {n} bytes of output")
        got = cap
    held_change(got)
    result = <object>fastctx_pooled_set(base, got, n, 1)
    Py_XDECREF(<PyObject *>result)  # the cast took a reference of its own
    return result


cdef char *output_data(PyObject *obj) noexcept:
    return (<char *>obj) + BYTES_HEAD


cdef int output_resize(PyObject **obj, Py_ssize_t n) except -1:
    """Resize an ``output_new`` result only its creator holds, as ``_PyBytes_Resize`` does:
    the contents are kept up to ``n``, the object may move, and on failure it is freed,
    ``obj[0]`` set to NULL and the error raised. A plain ``bytes`` growing to ``MAP_MIN``
    goes on as a ``PooledBytes`` (one copy). A ``PooledBytes`` grows into a pooled mapping
    that holds it (one copy of what it holds; its own mapping goes to the pool) or by
    remapping, and when shrunk gives back the pages of a mapping much larger than it."""
    cdef char *base
    cdef char *moved
    cdef Py_ssize_t cap, span, kept, got = 0
    cdef bint fresh
    cdef int k
    if n < 0:
        Py_XDECREF(obj[0])
        obj[0] = NULL
        raise ValueError(f"an output size is >= 0, not {n}")
    kept = min(n, PyBytes_GET_SIZE(<object>obj[0]))
    if not fastctx_is_pooled(obj[0]):
        if FASTCTX_CAN_MAP and n >= MAP_MIN and n > kept:
            try:
                pooled = output_new(n, &fresh)
            except BaseException:
                Py_XDECREF(obj[0])
                obj[0] = NULL
                raise
            memcpy(output_data(<PyObject *>pooled), output_data(obj[0]), <size_t>kept)
            Py_XDECREF(obj[0])
            Py_INCREF(pooled)
            obj[0] = <PyObject *>pooled
            return 0
        if _PyBytes_Resize(obj, n) < 0:
            obj[0] = NULL
            return -1  # _PyBytes_Resize freed it and set MemoryError
        return 0
    base = (<char *>obj[0]) - OUT_HEAD
    cap = (<Py_ssize_t *>base)[0]
    span = output_span(n)
    if span > cap:
        k = pool_take(span, &got, False)
        if k >= 0:
            moved = <char *>pool_pop(k)
            memcpy(moved, base, <size_t>(OUT_HEAD + BYTES_HEAD + kept))
            held_change(got - cap)
            fastctx_map_rejoin(base, <size_t>cap)
            pool_give(base, cap)
            base = moved
            cap = got
        else:
            moved = <char *>map_grow(base, <size_t>cap, <size_t>span)
            if moved == NULL:
                Py_XDECREF(obj[0])
                obj[0] = NULL
                raise MemoryError(f"cannot resize the output to {n} bytes")
            held_change(span - cap)
            base = moved
            cap = span
    elif cap > span + span // 4:
        moved = <char *>fastctx_remap(base, <size_t>cap, <size_t>span)
        if moved != NULL:
            held_change(span - cap)
            base = moved
            cap = span
    obj[0] = fastctx_pooled_set(base, cap, n, 0)
    return 0


cdef class OutputBytes:
    """A ``bytes`` built in place: ``capacity`` writable bytes at ``address`` until
    ``finish`` hands it over (a threaded render's output). ``fresh``: its pages are new (not
    taken from the pool)."""

    cdef PyObject *obj
    cdef readonly bint fresh

    def __cinit__(self, Py_ssize_t capacity):
        self.obj = NULL
        out = output_new(capacity, &self.fresh)
        Py_INCREF(out)
        self.obj = <PyObject *>out

    cdef PyObject *_live(self) except NULL:
        if self.obj == NULL:
            raise ValueError("the output was already finished or discarded")
        return self.obj

    @property
    def address(self):
        return <size_t>output_data(self._live())

    @property
    def capacity(self):
        return (<object>self._live()).__len__()

    def grow(self, Py_ssize_t capacity):
        """Resize to ``capacity`` bytes keeping the contents (the address may change)."""
        self._live()
        if capacity < 0:
            raise ValueError(f"an output size is >= 0, not {capacity}")
        output_resize(&self.obj, capacity)

    def finish(self, Py_ssize_t size):
        """The ``bytes`` of the first ``size`` bytes written; the output is handed over."""
        self._live()
        if size < 0:
            raise ValueError(f"an output size is >= 0, not {size}")
        output_resize(&self.obj, size)
        result = <object>self.obj
        Py_XDECREF(self.obj)  # `result` holds its own reference
        self.obj = NULL
        return result

    def discard(self):
        Py_XDECREF(self.obj)
        self.obj = NULL

    def __dealloc__(self):
        Py_XDECREF(self.obj)
