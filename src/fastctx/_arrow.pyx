# cython: language_level=3
"""The Arrow C data interface for ``Batch``: export and import, no pyarrow needed.

The three ABI structs below are written from the published Arrow C data interface and C
stream interface specifications (they are part of the Arrow format, stable since Arrow 1.0).

Export hands out pointers into the Batch's own numpy buffers: each exported ``ArrowArray``
holds a reference to a tuple of those arrays and drops it in its release callback (taking
the GIL there, since a consumer may release from any thread). A ``Batch`` is one record
batch, so an exported stream yields exactly one array; every ``__arrow_c_stream__`` call
makes a new stream, so a Batch can be consumed any number of times.

Import takes any PyCapsule exporter (``__arrow_c_stream__`` preferred, else
``__arrow_c_array__``), keeps only the wanted columns, and wraps the producer's buffers in
read-only numpy arrays where the layout already is fastctx's (int64, large_string,
timestamp[ms], date64, and validity bitmaps at a byte-aligned offset). Those arrays own a
reference to the imported ``ArrowArray``, whose release callback runs when the last of
them is freed. Every other supported layout is converted with numpy or a small ``nogil``
loop, never through Python objects.
"""

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from cpython.ref cimport PyObject, Py_XDECREF, Py_XINCREF
from libc.errno cimport EINVAL, ENOMEM
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset, strlen

cimport numpy as cnp
from decimal import Decimal

import numpy as np

from .batch import Batch, Column, whole_floats
from .errors import value_error

cnp.import_array()

cdef extern from "Python.h":
    int Py_IsInitialized() nogil


# ---------------------------------------------------------------------------------------
# The ABI (Arrow C data interface and C stream interface)
# ---------------------------------------------------------------------------------------

cdef enum:
    ARROW_FLAG_DICTIONARY_ORDERED = 1
    ARROW_FLAG_NULLABLE = 2
    ARROW_FLAG_MAP_KEYS_SORTED = 4

cdef struct ArrowSchema:
    const char* format
    const char* name
    const char* metadata
    int64_t flags
    int64_t n_children
    ArrowSchema** children
    ArrowSchema* dictionary
    void (*release)(ArrowSchema*) noexcept nogil
    void* private_data

cdef struct ArrowArray:
    int64_t length
    int64_t null_count
    int64_t offset
    int64_t n_buffers
    int64_t n_children
    const void** buffers
    ArrowArray** children
    ArrowArray* dictionary
    void (*release)(ArrowArray*) noexcept nogil
    void* private_data

cdef struct ArrowArrayStream:
    int (*get_schema)(ArrowArrayStream*, ArrowSchema*) noexcept nogil
    int (*get_next)(ArrowArrayStream*, ArrowArray*) noexcept nogil
    const char* (*get_last_error)(ArrowArrayStream*) noexcept nogil
    void (*release)(ArrowArrayStream*) noexcept nogil
    void* private_data


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------

# Zero-length numpy arrays may have a NULL data pointer, but Arrow wants every buffer a
# layout defines (other than validity) non-NULL: point those at this instead.
cdef int64_t _EMPTY[2]

cdef struct ColumnPlan:
    const char* format        # a static literal
    char* name                # malloc'd, NUL-terminated UTF-8
    int64_t null_count
    int64_t n_buffers
    const void* buffers[3]

cdef struct ExportPlan:
    # Everything needed to describe the Batch without touching Python objects, so that the
    # stream callbacks can build schemas and arrays from any thread.
    int64_t length
    int64_t n_columns
    ColumnPlan* columns
    PyObject* keep            # owned reference: tuple of every numpy array pointed into

cdef struct ArrayPrivate:
    PyObject* keep            # owned reference, dropped by the release callback
    const void* buffers[3]

cdef struct StreamPrivate:
    ExportPlan* plan
    int done
    const char* error


cdef void _drop_ref(PyObject* obj) noexcept nogil:
    # Release callbacks may run on any thread, with or without the GIL ("with gil" is
    # PyGILState_Ensure/Release, so it also works when the caller already holds it).
    if obj != NULL and Py_IsInitialized():
        with gil:
            Py_XDECREF(obj)


cdef void _plan_free(ExportPlan* plan) noexcept nogil:
    cdef int64_t i
    if plan == NULL:
        return
    if plan.columns != NULL:
        for i in range(plan.n_columns):
            free(plan.columns[i].name)
        free(plan.columns)
    _drop_ref(plan.keep)
    free(plan)


cdef const void* _data_pointer(cnp.ndarray array):
    cdef const void* ptr = cnp.PyArray_DATA(array)
    return ptr if ptr != NULL else <const void*>_EMPTY


cdef ExportPlan* _plan_new(batch) except NULL:
    """Collect the Batch's buffers (with the GIL); the plan owns a reference to them."""
    cdef ExportPlan* plan = <ExportPlan*>calloc(1, sizeof(ExportPlan))
    cdef ColumnPlan* col
    cdef int64_t n_rows = batch.num_rows
    cdef bytes encoded
    if plan == NULL:
        raise MemoryError()
    names = batch.column_names
    keep = []
    try:
        plan.length = n_rows
        plan.columns = <ColumnPlan*>calloc(max(len(names), 1), sizeof(ColumnPlan))
        if plan.columns == NULL:
            raise MemoryError()
        for index, name in enumerate(names):
            column = batch.column(name)
            col = &plan.columns[index]
            plan.n_columns = index + 1
            encoded = str(name).encode("utf-8")
            col.name = <char*>malloc(len(encoded) + 1)
            if col.name == NULL:
                raise MemoryError()
            memcpy(col.name, <const char*>encoded, len(encoded))
            col.name[len(encoded)] = 0
            values = np.ascontiguousarray(column.values, dtype=np.int64)
            keep.append(values)
            if column.kind == "string":
                data = np.ascontiguousarray(column.data, dtype=np.uint8)
                if len(values) != n_rows + 1:
                    raise ValueError(f"column {name!r}: {len(values)} offsets for {n_rows} rows")
                keep.append(data)
                col.format = "U"
                col.n_buffers = 3
                col.buffers[1] = _data_pointer(values)
                col.buffers[2] = _data_pointer(data)
            else:
                if len(values) != n_rows:
                    raise ValueError(f"column {name!r}: {len(values)} values for {n_rows} rows")
                col.format = "tsm:UTC" if column.kind == "timestamp" else "l"
                col.n_buffers = 2
                col.buffers[1] = _data_pointer(values)
            col.buffers[0] = NULL
            col.null_count = 0
            if column.validity is not None and column.null_count != 0:
                validity = np.ascontiguousarray(column.validity, dtype=np.uint8)
                if len(validity) < (n_rows + 7) // 8:
                    raise ValueError(f"column {name!r}: validity bitmap shorter than the column")
                keep.append(validity)
                col.buffers[0] = _data_pointer(validity)
                col.null_count = column.null_count
        keep_tuple = tuple(keep)
        Py_XINCREF(<PyObject*>keep_tuple)
        plan.keep = <PyObject*>keep_tuple
    except BaseException:
        _plan_free(plan)
        raise
    return plan


cdef void _release_schema(ArrowSchema* schema) noexcept nogil:
    cdef int64_t i
    cdef ArrowSchema* child
    for i in range(schema.n_children):
        child = schema.children[i]
        if child.release != NULL:
            child.release(child)
    if schema.dictionary != NULL and schema.dictionary.release != NULL:
        schema.dictionary.release(schema.dictionary)
    # the private data is the one block holding the name and any children
    free(schema.private_data)
    schema.release = NULL


cdef int _export_schema(ExportPlan* plan, ArrowSchema* out) noexcept nogil:
    """A ``+s`` (struct) schema with one nullable field per column."""
    cdef int64_t n = plan.n_columns
    cdef int64_t i
    cdef size_t name_len
    cdef ArrowSchema** child_ptrs
    cdef ArrowSchema* children
    cdef ArrowSchema* child
    cdef char* name
    cdef char* block = <char*>malloc(n * (sizeof(ArrowSchema*) + sizeof(ArrowSchema)) + 1)
    if block == NULL:
        return ENOMEM
    child_ptrs = <ArrowSchema**>block
    children = <ArrowSchema*>(block + n * sizeof(ArrowSchema*))
    for i in range(n):
        name_len = strlen(plan.columns[i].name)
        name = <char*>malloc(name_len + 1)
        if name == NULL:
            while i > 0:
                i -= 1
                free(children[i].private_data)
            free(block)
            return ENOMEM
        memcpy(name, plan.columns[i].name, name_len + 1)
        child = &children[i]
        child.format = plan.columns[i].format
        child.name = name
        child.metadata = NULL
        child.flags = ARROW_FLAG_NULLABLE
        child.n_children = 0
        child.children = NULL
        child.dictionary = NULL
        child.release = _release_schema
        child.private_data = name
        child_ptrs[i] = child
    out.format = "+s"
    out.name = ""
    out.metadata = NULL
    out.flags = 0
    out.n_children = n
    out.children = child_ptrs
    out.dictionary = NULL
    out.release = _release_schema
    out.private_data = block
    return 0


cdef void _release_array(ArrowArray* array) noexcept nogil:
    cdef int64_t i
    cdef ArrowArray* child
    cdef ArrayPrivate* priv = <ArrayPrivate*>array.private_data
    # A consumer may have moved children out (it then marks them released here).
    for i in range(array.n_children):
        child = array.children[i]
        if child.release != NULL:
            child.release(child)
    _drop_ref(priv.keep)
    free(priv)
    array.release = NULL


cdef int _export_array(ExportPlan* plan, ArrowArray* out) noexcept nogil:
    """A struct array of the columns; every array (parent and children) holds a reference
    to the numpy buffers, so children moved out by a consumer stay valid on their own."""
    cdef int64_t n = plan.n_columns
    cdef int64_t i
    cdef int k
    cdef ArrayPrivate* priv
    cdef ArrowArray** child_ptrs
    cdef ArrowArray* children
    cdef ArrowArray* child
    cdef ArrayPrivate* child_priv
    cdef char* block = <char*>malloc(
        sizeof(ArrayPrivate) + n * (sizeof(ArrowArray*) + sizeof(ArrowArray)))
    if block == NULL:
        return ENOMEM
    priv = <ArrayPrivate*>block
    child_ptrs = <ArrowArray**>(block + sizeof(ArrayPrivate))
    children = <ArrowArray*>(block + sizeof(ArrayPrivate) + n * sizeof(ArrowArray*))
    for i in range(n):
        child_priv = <ArrayPrivate*>malloc(sizeof(ArrayPrivate))
        if child_priv == NULL:
            while i > 0:
                i -= 1
                free(children[i].private_data)
            free(block)
            return ENOMEM
        child = &children[i]
        child.private_data = child_priv
        child_ptrs[i] = child
    with gil:
        for i in range(n + 1):
            Py_XINCREF(plan.keep)
    priv.keep = plan.keep
    priv.buffers[0] = NULL
    for i in range(n):
        child = &children[i]
        child_priv = <ArrayPrivate*>child.private_data
        child_priv.keep = plan.keep
        for k in range(3):
            child_priv.buffers[k] = plan.columns[i].buffers[k]
        child.length = plan.length
        child.null_count = plan.columns[i].null_count
        child.offset = 0
        child.n_buffers = plan.columns[i].n_buffers
        child.n_children = 0
        child.buffers = child_priv.buffers
        child.children = NULL
        child.dictionary = NULL
        child.release = _release_array
    out.length = plan.length
    out.null_count = 0
    out.offset = 0
    out.n_buffers = 1
    out.n_children = n
    out.buffers = priv.buffers
    out.children = child_ptrs
    out.dictionary = NULL
    out.release = _release_array
    out.private_data = priv
    return 0


cdef int _stream_get_schema(ArrowArrayStream* stream, ArrowSchema* out) noexcept nogil:
    cdef StreamPrivate* priv = <StreamPrivate*>stream.private_data
    cdef int status = _export_schema(priv.plan, out)
    priv.error = NULL
    if status:
        priv.error = "out of memory"
    return status


cdef int _stream_get_next(ArrowArrayStream* stream, ArrowArray* out) noexcept nogil:
    cdef StreamPrivate* priv = <StreamPrivate*>stream.private_data
    cdef int status
    if priv.done:
        # end of stream: a released array
        memset(out, 0, sizeof(ArrowArray))
        return 0
    status = _export_array(priv.plan, out)
    priv.error = NULL
    if status:
        priv.error = "out of memory"
    else:
        priv.done = 1
    return status


cdef const char* _stream_get_last_error(ArrowArrayStream* stream) noexcept nogil:
    return (<StreamPrivate*>stream.private_data).error


cdef void _stream_release(ArrowArrayStream* stream) noexcept nogil:
    cdef StreamPrivate* priv = <StreamPrivate*>stream.private_data
    _plan_free(priv.plan)
    free(priv)
    stream.release = NULL


cdef void _schema_capsule_destructor(object capsule) noexcept:
    cdef ArrowSchema* schema = <ArrowSchema*>PyCapsule_GetPointer(capsule, "arrow_schema")
    if schema != NULL:
        if schema.release != NULL:
            schema.release(schema)
        free(schema)


cdef void _array_capsule_destructor(object capsule) noexcept:
    cdef ArrowArray* array = <ArrowArray*>PyCapsule_GetPointer(capsule, "arrow_array")
    if array != NULL:
        if array.release != NULL:
            array.release(array)
        free(array)


cdef void _stream_capsule_destructor(object capsule) noexcept:
    cdef ArrowArrayStream* stream = <ArrowArrayStream*>PyCapsule_GetPointer(
        capsule, "arrow_array_stream")
    if stream != NULL:
        if stream.release != NULL:
            stream.release(stream)
        free(stream)


def export_schema(batch):
    """``batch.__arrow_c_schema__()``: a PyCapsule named ``arrow_schema`` (a struct type)."""
    cdef ExportPlan* plan = _plan_new(batch)
    cdef ArrowSchema* schema = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
    cdef int status = ENOMEM
    if schema != NULL:
        status = _export_schema(plan, schema)
    _plan_free(plan)
    if status:
        free(schema)
        raise MemoryError()
    return PyCapsule_New(schema, "arrow_schema", _schema_capsule_destructor)


def export_array(batch):
    """``batch.__arrow_c_array__()``: ``(arrow_schema capsule, arrow_array capsule)``,
    the columns as one struct array (a record batch) over the Batch's own buffers."""
    cdef ExportPlan* plan = _plan_new(batch)
    cdef ArrowSchema* schema = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
    cdef ArrowArray* array = <ArrowArray*>calloc(1, sizeof(ArrowArray))
    cdef int status = ENOMEM
    if schema != NULL and array != NULL:
        status = _export_schema(plan, schema)
        if status == 0:
            status = _export_array(plan, array)
            if status:
                schema.release(schema)
    _plan_free(plan)
    if status:
        free(schema)
        free(array)
        raise MemoryError()
    schema_capsule = PyCapsule_New(schema, "arrow_schema", _schema_capsule_destructor)
    array_capsule = PyCapsule_New(array, "arrow_array", _array_capsule_destructor)
    return schema_capsule, array_capsule


def export_stream(batch):
    """``batch.__arrow_c_stream__()``: a new ``arrow_array_stream`` capsule yielding the
    Batch as one record batch. Each call makes an independent stream."""
    cdef ExportPlan* plan = _plan_new(batch)
    cdef StreamPrivate* priv = <StreamPrivate*>calloc(1, sizeof(StreamPrivate))
    cdef ArrowArrayStream* stream = <ArrowArrayStream*>calloc(1, sizeof(ArrowArrayStream))
    if priv == NULL or stream == NULL:
        free(priv)
        free(stream)
        _plan_free(plan)
        raise MemoryError()
    priv.plan = plan
    stream.get_schema = _stream_get_schema
    stream.get_next = _stream_get_next
    stream.get_last_error = _stream_get_last_error
    stream.release = _stream_release
    stream.private_data = priv
    return PyCapsule_New(stream, "arrow_array_stream", _stream_capsule_destructor)


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------

cdef class _ImportedArray:
    """Owns one imported ``ArrowArray`` (moved in); calls the producer's release when the
    last numpy array viewing its buffers is freed."""

    cdef ArrowArray array

    def __dealloc__(self):
        if self.array.release != NULL:
            self.array.release(&self.array)


cdef class _ForeignBuffer:
    """A read-only buffer-protocol view of producer memory that keeps its owner alive."""

    cdef object owner
    cdef const void* ptr
    cdef Py_ssize_t nbytes

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, <void*>self.ptr, self.nbytes, 1, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef object _wrap(object owner, const void* ptr, int64_t nbytes, dtype):
    """A numpy array over ``nbytes`` of foreign memory, owning a reference to ``owner``."""
    cdef _ForeignBuffer buffer
    if ptr == NULL or nbytes <= 0:
        return np.zeros(0, dtype=dtype)
    buffer = _ForeignBuffer.__new__(_ForeignBuffer)
    buffer.owner = owner
    buffer.ptr = ptr
    buffer.nbytes = nbytes
    return np.frombuffer(buffer, dtype=dtype)


class _Field:
    """A Python copy of one ``ArrowSchema`` node."""

    __slots__ = ("format", "name", "children", "dictionary", "extension")

    def __init__(self, format, name, children, dictionary, extension=None):
        self.format = format
        self.name = name
        self.children = children
        self.dictionary = dictionary
        self.extension = extension


cdef object _extension_name(const char* metadata):
    """The ``ARROW:extension:name`` of a schema's metadata (int32 count, then int32-length
    keys and values), or None."""
    cdef int32_t count, size
    cdef const char* at = metadata
    if metadata == NULL:
        return None
    memcpy(&count, at, 4)
    at += 4
    for _ in range(count):
        memcpy(&size, at, 4)
        key = at[4:4 + size]
        at += 4 + size
        memcpy(&size, at, 4)
        if key == b"ARROW:extension:name":
            return at[4:4 + size].decode("utf-8", "replace")
        at += 4 + size
    return None


# Extension types whose storage holds the values themselves; any other extension (pandas'
# periods and intervals, arrow.bool8, UUIDs...) means something else than its storage type.
_PLAIN_EXTENSIONS = ("arrow.json",)


cdef object _field_from_schema(const ArrowSchema* schema):
    cdef int64_t i
    if schema == NULL or schema.release == NULL or schema.format == NULL:
        raise ValueError("the Arrow schema is released or incomplete")
    name = schema.name.decode("utf-8", "replace") if schema.name != NULL else ""
    children = []
    for i in range(schema.n_children):
        children.append(_field_from_schema(schema.children[i]))
    dictionary = _field_from_schema(schema.dictionary) if schema.dictionary != NULL else None
    return _Field(schema.format.decode("utf-8", "replace"), name, children, dictionary,
                  _extension_name(schema.metadata))


_INT_FORMATS = {
    "c": np.int8, "s": np.int16, "i": np.int32, "l": np.int64,
    "C": np.uint8, "S": np.uint16, "I": np.uint32, "L": np.uint64,
}
_FLOAT_FORMATS = {"e": np.float16, "f": np.float32, "g": np.float64}
_TS_TO_MS = {"s": (1000, 1), "m": (1, 1), "u": (1, 1000), "n": (1, 1000000)}
_FORMAT_NAMES = {
    "b": "boolean", "z": "binary", "Z": "large_binary", "vz": "binary_view",
    "d": "decimal", "w": "fixed_size_binary", "+l": "list", "+L": "large_list",
    "+vl": "list_view", "+w": "fixed_size_list", "+s": "struct", "+m": "map",
    "+ud": "dense_union", "+us": "sparse_union", "tts": "time32[s]", "ttm": "time32[ms]",
    "ttu": "time64[us]", "ttn": "time64[ns]", "tiM": "interval[months]",
    "tiD": "interval[days, ms]", "tin": "interval[month_day_nano]", "+r": "run_end_encoded",
}


def _decimal_format(fmt):
    """``(scale, bit width)`` of an Arrow decimal format (``d:P,S`` or ``d:P,S,W``), or None."""
    if not fmt.startswith("d:"):
        return None
    try:
        numbers = [int(part) for part in fmt[2:].split(",")]
    except ValueError:
        return None
    if len(numbers) == 2:
        numbers.append(128)
    if len(numbers) != 3 or numbers[2] not in (32, 64, 128, 256):
        return None
    return numbers[1], numbers[2]


def _decimal_words(words, width):
    """The integer of one decimal value's little-endian 64-bit words (two's complement)."""
    value = sum(int(word) << (64 * k) for k, word in enumerate(words))
    return value - (1 << width) if value >= 1 << (width - 1) else value


def _decimal_int64(raw, scale, width, mask, validity, null_count, name, base):
    """Decimal values -> an int64 Column: whole numbers that fit int64 are taken (DuckDB's
    HUGEINT, a ``sum()`` of integers, arrives as decimal(38, 0)); any other value where a row
    holds one (``mask``, None: every row) is an error naming its row, as for floats."""
    cdef int64_t n = len(raw) if width == 32 else len(raw) // (width // 64)
    present = np.ones(n, dtype=bool) if mask is None else mask
    if width == 32:
        words = raw.astype(np.int64).reshape(n, 1)
        low = words[:, 0]
        fits = np.ones(n, dtype=bool)
    else:
        words = raw.reshape(n, width // 64)
        low = words[:, 0].astype(np.int64)  # two's complement: the low word read as signed
        sign = np.where(low < 0, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))
        fits = (words[:, 1:] == sign[:, None]).all(axis=1)
    if scale < 0:  # the value is the number times 10**-scale: whole, if it fits
        unit = 10 ** -scale
        limit = (2**63 - 1) // unit
        whole = (low <= limit) & (low >= -limit)
        values = np.where(whole, low, 0) * unit
    elif scale <= 18:
        unit = 10 ** scale
        whole = low % unit == 0
        values = low // unit
    else:  # a multiple of 10**19 or more fits int64 only as 0
        whole = low == 0
        values = np.zeros(n, dtype=np.int64)
    bad = present & ~(fits & whole)
    for row in np.flatnonzero(bad):
        row = int(row)
        exact = Decimal(int(low[row]) if width == 32 else _decimal_words(words[row], width))
        exact = exact.scaleb(-scale)
        text = str(exact)
        if exact != exact.to_integral_value():
            raise value_error(TypeError, name, base + row, f"{text} is not a whole number; a "
                              "column of numbers holds integers (fastctx has no decimal "
                              "columns: give text as str)")
        if not -2**63 <= int(exact) < 2**63:
            raise value_error(OverflowError, name, base + row, f"{text} does not fit in int64")
        values[row] = int(exact)  # whole, in range, but not as a raw int64 (decimal(38, 20))
    return Column._built("int64", values, None, validity, null_count)


def _unsupported(name, fmt):
    described = next((v for k, v in _FORMAT_NAMES.items() if fmt == k or
                      (len(k) == 1 and fmt.startswith(k + ":"))), None)
    if described is None and fmt.startswith("tD"):
        described = "duration"
    what = f" ({described})" if described else ""
    return TypeError(
        f"column {name!r}: Arrow format {fmt!r}{what} is not supported; fastctx columns are "
        "integers, timestamps/dates or strings (cast the column first)")


def _kind_of(field, name):
    """The fastctx column kind an Arrow field converts to (TypeError if none)."""
    fmt = field.format
    if field.extension is not None and field.extension not in _PLAIN_EXTENSIONS:
        raise TypeError(
            f"column {name!r}: the Arrow extension type {field.extension!r} (stored as format "
            f"{fmt!r}) is not supported; fastctx columns are integers, timestamps/dates or "
            "strings (cast the column first)")
    if field.dictionary is not None:
        if fmt not in _INT_FORMATS:
            raise TypeError(f"column {name!r}: dictionary indices of Arrow format {fmt!r}")
        return _kind_of(field.dictionary, name)
    if fmt in _INT_FORMATS or fmt in _FLOAT_FORMATS or _decimal_format(fmt) is not None:
        return "int64"
    if (fmt[:2] == "ts" and len(fmt) >= 4 and fmt[2] in _TS_TO_MS and fmt[3] == ":") \
            or fmt in ("tdD", "tdm"):
        return "timestamp"
    if fmt in ("u", "U", "vu", "n"):
        return "string"
    raise _unsupported(name, fmt)


def _empty_column(kind):
    if kind == "string":
        return Column._built("string", np.zeros(1, np.int64), np.zeros(0, np.uint8))
    return Column._built(kind, np.zeros(0, np.int64))


def _null_column(n):
    """Arrow's null type: a string column of ``n`` nulls (renders as missing everywhere)."""
    return Column._built("string", np.zeros(n + 1, np.int64), np.zeros(0, np.uint8),
                  np.zeros((n + 7) // 8, np.uint8), n)


cdef object _bit_mask(object owner, const void* bitmap, int64_t offset, int64_t n):
    """Bits ``[offset, offset + n)`` of an LSB-first bitmap as a bool array."""
    cdef int64_t shift = offset % 8
    raw = _wrap(owner, <const char*>bitmap + offset // 8, (shift + n + 7) // 8, np.uint8)
    return np.unpackbits(raw, count=shift + n, bitorder="little")[shift:].astype(bool)


cdef tuple _validity(object owner, const ArrowArray* array, int64_t offset, int64_t n,
                     object parent_mask):
    """``(bitmap or None, null_count)`` for rows ``[offset, offset + n)``.

    Zero-copy when the bitmap starts on a byte boundary and no parent nulls apply.
    """
    cdef const void* bitmap = array.buffers[0] if array.n_buffers > 0 else NULL
    cdef bint has_bitmap = bitmap != NULL and array.null_count != 0
    cdef int64_t null_count
    if n == 0 or (not has_bitmap and parent_mask is None):
        return None, 0
    if has_bitmap and parent_mask is None and offset % 8 == 0:
        view = _wrap(owner, <const char*>bitmap + offset // 8, (n + 7) // 8, np.uint8)
        if array.null_count > 0 and offset == array.offset and n == array.length:
            null_count = array.null_count
        else:
            null_count = n - int(np.count_nonzero(
                np.unpackbits(view, count=n, bitorder="little")))
        return (view, null_count) if null_count else (None, 0)
    if has_bitmap:
        mask = _bit_mask(owner, bitmap, offset, n)
        if parent_mask is not None:
            mask &= parent_mask
    else:
        mask = parent_mask
    null_count = n - int(np.count_nonzero(mask))
    if null_count == 0:
        return None, 0
    return np.packbits(mask, bitorder="little"), null_count


cdef object _fixed(object owner, const ArrowArray* array, int buffer, int64_t offset,
                   int64_t n, dtype):
    """Values ``[offset, offset + n)`` of a fixed-width buffer (zero-copy view)."""
    cdef int64_t width = np.dtype(dtype).itemsize
    if array.n_buffers <= buffer:
        raise ValueError("Arrow array has fewer buffers than its type needs")
    return _wrap(owner, <const char*>array.buffers[buffer] + offset * width, n * width, dtype)


cdef int _gather_views(const uint8_t* views, int64_t n, const uint8_t* valid,
                       const uint8_t** buffers, const int64_t* sizes, int64_t n_data,
                       int64_t* offsets, uint8_t* out) noexcept nogil:
    """string_view -> offsets + data. First call with ``out == NULL`` to size (fills
    ``offsets``), then with ``out`` to copy. Returns the bad row + 1 on a corrupt view."""
    cdef int64_t row, total = 0
    cdef int32_t length, index, start
    cdef const uint8_t* view
    offsets[0] = 0
    for row in range(n):
        view = views + 16 * row
        if valid == NULL or valid[row]:
            memcpy(&length, view, 4)
            if length < 0:
                return <int>(row + 1)
            if out != NULL:
                if length <= 12:
                    memcpy(out + total, view + 4, length)
                else:
                    memcpy(&index, view + 8, 4)
                    memcpy(&start, view + 12, 4)
                    memcpy(out + total, buffers[index] + start, length)
            elif length > 12:
                memcpy(&index, view + 8, 4)
                memcpy(&start, view + 12, 4)
                if index < 0 or index >= n_data or start < 0 or start + <int64_t>length > sizes[index]:
                    return <int>(row + 1)
            total += length
        offsets[row + 1] = total
    return 0


cdef object _string_view(object owner, const ArrowArray* array, int64_t offset, int64_t n,
                         object mask, object name, int64_t base):
    cdef int64_t n_data = array.n_buffers - 3
    cdef int64_t i
    cdef int status
    cdef const uint8_t** buffers
    cdef const uint8_t* valid_ptr = NULL
    cdef cnp.ndarray offsets = np.zeros(n + 1, dtype=np.int64)
    cdef cnp.ndarray data
    cdef cnp.ndarray valid
    cdef const uint8_t* views
    cdef const int64_t* sizes
    if n_data < 0:
        raise ValueError(f"column {name!r}: string_view array with {array.n_buffers} buffers")
    if mask is not None:
        valid = np.ascontiguousarray(mask, dtype=np.uint8)
        valid_ptr = <const uint8_t*>cnp.PyArray_DATA(valid)
    buffers = <const uint8_t**>&array.buffers[2]
    views = <const uint8_t*>array.buffers[1] + 16 * offset
    sizes = <const int64_t*>array.buffers[array.n_buffers - 1]
    if n and views == NULL:
        raise ValueError(f"column {name!r}: string_view array without a views buffer")
    with nogil:
        status = _gather_views(views, n, valid_ptr, buffers, sizes, n_data,
                               <int64_t*>cnp.PyArray_DATA(offsets), NULL)
    if status:
        raise ValueError(f"column {name!r}: corrupt string_view at row {base + status - 1}")
    data = np.empty(offsets[n], dtype=np.uint8)
    with nogil:
        _gather_views(views, n, valid_ptr, buffers, sizes, n_data,
                      <int64_t*>cnp.PyArray_DATA(offsets), <uint8_t*>cnp.PyArray_DATA(data))
    return offsets, data


cdef int64_t _take_strings(const int64_t* offsets, const uint8_t* data, int64_t size,
                           const int64_t* indices, const uint8_t* valid, int64_t n,
                           int64_t* out_offsets, uint8_t* out) noexcept nogil:
    """Gather dictionary strings by index: a sizing pass (``out`` NULL, which also checks
    every valid index against ``size``) fills ``out_offsets``, then a copy pass.
    Returns the first row whose index is out of range, plus one (0 when all are good)."""
    cdef int64_t row, index, length, total = 0
    out_offsets[0] = 0
    for row in range(n):
        if valid == NULL or valid[row]:
            index = indices[row]
            if out == NULL and (index < 0 or index >= size):
                return row + 1
            length = offsets[index + 1] - offsets[index]
            if out != NULL:
                memcpy(out + total, data + offsets[index], length)
            total += length
        out_offsets[row + 1] = total
    return 0


def _decode_dictionary(dictionary_column, indices, mask, name, base):
    """Dictionary-encoded values -> a plain column; ``mask`` is the indices' validity (None:
    no nulls); ``base`` is the number of the column's rows before these, for errors."""
    cdef cnp.ndarray offsets_in, data_in, index_array, valid = None, out_offsets, out_data
    cdef const uint8_t* valid_ptr = NULL
    cdef int64_t n = len(indices), size = len(dictionary_column), bad
    if mask is not None:
        # null slots may hold any index: point them at entry 0
        indices = np.where(mask, indices, 0)
    if size == 0:
        if n and (mask is None or mask.any()):
            raise ValueError(f"column {name!r}: dictionary index out of range (empty dictionary)")
        return _null_column(n) if dictionary_column.kind == "string" else Column._built(
            dictionary_column.kind, np.zeros(n, np.int64), None,
            np.zeros((n + 7) // 8, np.uint8), n)
    if dictionary_column.validity is not None or dictionary_column.kind != "string":
        # numpy indexing follows (the string gather checks its indices itself)
        if n and (indices.min() < 0 or indices.max() >= size):
            raise ValueError(f"column {name!r}: dictionary index out of range (size {size})")
    if dictionary_column.validity is not None:
        valid_rows = np.ones(n, dtype=bool) if mask is None else mask
        mask = valid_rows & dictionary_column.valid_mask()[indices]
    null_count = 0 if mask is None else n - int(np.count_nonzero(mask))
    bitmap = np.packbits(mask, bitorder="little") if null_count else None
    if dictionary_column.kind != "string":
        return Column._built(dictionary_column.kind, dictionary_column.values[indices], None, bitmap,
                      null_count)
    offsets_in = np.ascontiguousarray(dictionary_column.values, dtype=np.int64)
    data_in = np.ascontiguousarray(dictionary_column.data, dtype=np.uint8)
    index_array = np.ascontiguousarray(indices, dtype=np.int64)
    if null_count:
        valid = np.ascontiguousarray(mask, dtype=np.uint8)
        valid_ptr = <const uint8_t*>cnp.PyArray_DATA(valid)
    out_offsets = np.empty(n + 1, dtype=np.int64)
    with nogil:
        bad = _take_strings(<const int64_t*>cnp.PyArray_DATA(offsets_in),
                            <const uint8_t*>cnp.PyArray_DATA(data_in), size,
                            <const int64_t*>cnp.PyArray_DATA(index_array), valid_ptr, n,
                            <int64_t*>cnp.PyArray_DATA(out_offsets), NULL)
    if bad:
        raise ValueError(f"column {name!r}: dictionary index {index_array[bad - 1]} out of range "
                         f"(size {size}) at row {base + bad - 1}")
    out_data = np.empty(out_offsets[n], dtype=np.uint8)
    with nogil:
        _take_strings(<const int64_t*>cnp.PyArray_DATA(offsets_in),
                      <const uint8_t*>cnp.PyArray_DATA(data_in), size,
                      <const int64_t*>cnp.PyArray_DATA(index_array), valid_ptr, n,
                      <int64_t*>cnp.PyArray_DATA(out_offsets),
                      <uint8_t*>cnp.PyArray_DATA(out_data))
    return Column._built("string", out_offsets, out_data, bitmap, null_count)


def _checked_int64(raw, mask, validity, null_count, name, base):
    """uint64 or float values -> an int64 Column, checked where a row holds a value (``mask``,
    None: every row; ``validity``/``null_count`` as Arrow gave them). pandas stores integer
    columns with missing values as floats with NaN (nulls in Arrow, or NaN itself): whole
    numbers that fit int64 are taken and NaN is missing, as in a numpy float array
    (``batch.whole_floats`` names the first other value's row, counted from ``base``)."""
    cdef int64_t n = len(raw)
    if raw.dtype == np.uint64:
        outside = raw >= 2**63
        if mask is not None:
            outside &= mask
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise value_error(OverflowError, name, base + row,
                              f"{int(raw[row])} (uint64) does not fit in int64")
        return Column._built("int64", raw.astype(np.int64), None, validity, null_count)
    raw = raw.astype(np.float64)
    valid = ~np.isnan(raw)
    if mask is not None:
        valid &= mask
    values = whole_floats(np.where(valid, raw, 0.0), name, base)
    if valid.all():
        return Column._built("int64", values)
    return Column._built("int64", values, None, np.packbits(valid, bitorder="little"),
                  int(n - np.count_nonzero(valid)))


cdef object _numeric_dictionary(object owner, const ArrowArray* array, object entries,
                                int64_t offset, int64_t n, object mask, object fmt, object name,
                                int64_t base):
    """A dictionary of uint64 or float entries: gathered per row first, so that only the
    entries a row uses are checked (a filtered pandas category keeps the others)."""
    cdef const ArrowArray* d = array.dictionary
    if d.release == NULL:
        raise ValueError(f"column {name!r}: the Arrow dictionary is released")
    dtype = np.uint64 if entries.format == "L" else _FLOAT_FORMATS[entries.format]
    raw = _fixed(owner, d, 1, d.offset, d.length, dtype)
    bitmap, _ = _validity(owner, d, d.offset, d.length, None)
    indices = _fixed(owner, array, 1, offset, n, _INT_FORMATS[fmt]).astype(np.int64)
    rows = np.ones(n, dtype=bool) if mask is None else mask
    indices = np.where(rows, indices, 0)  # null slots may hold any index
    if n and rows.any() and (indices.min() < 0 or indices.max() >= d.length):
        raise ValueError(f"column {name!r}: dictionary index out of range (size {d.length})")
    gathered = raw[indices] if d.length else np.zeros(n, dtype)
    if bitmap is not None and d.length:
        rows = rows & np.unpackbits(bitmap, count=d.length, bitorder="little").astype(bool)[indices]
    nulls = n - int(np.count_nonzero(rows))
    return _checked_int64(gathered, rows if nulls else None,
                          np.packbits(rows, bitorder="little") if nulls else None, nulls, name,
                          base)


cdef object _convert(object owner, const ArrowArray* array, object field, int64_t offset,
                     int64_t n, object parent_mask, object name, int64_t base=0):
    """Rows ``[offset, offset + n)`` of one imported child array -> a ``Column``. Errors
    count rows from ``base``: the rows of the column in the chunks before this one."""
    fmt = field.format
    kind = _kind_of(field, name)
    if fmt == "n":
        return _null_column(n)
    if array.release == NULL:
        raise ValueError(f"column {name!r}: the Arrow array is released")
    validity, null_count = _validity(owner, array, offset, n, parent_mask)
    # one bool per row, for the conversions that must skip null slots (whose values are
    # undefined in Arrow); the zero-copy paths never build it
    mask = None
    decimal = _decimal_format(fmt)
    if validity is not None and (field.dictionary is not None or fmt in ("L", "vu")
                                 or fmt in _FLOAT_FORMATS or decimal is not None):
        mask = np.unpackbits(validity, count=n, bitorder="little").astype(bool)

    if field.dictionary is not None:
        if array.dictionary == NULL:
            raise ValueError(f"column {name!r}: dictionary-encoded array without its dictionary")
        entries = field.dictionary
        if entries.dictionary is None and entries.extension is None and (
                entries.format == "L" or entries.format in _FLOAT_FORMATS):
            return _numeric_dictionary(owner, array, entries, offset, n, mask, fmt, name, base)
        dictionary = _convert(owner, array.dictionary, field.dictionary,
                              array.dictionary.offset, array.dictionary.length, None, name)
        indices = _fixed(owner, array, 1, offset, n, _INT_FORMATS[fmt])
        return _decode_dictionary(dictionary, indices, mask, name, base)

    if fmt == "l":
        return Column._built("int64", _fixed(owner, array, 1, offset, n, np.int64), None, validity,
                      null_count)
    if fmt in _INT_FORMATS:
        raw = _fixed(owner, array, 1, offset, n, _INT_FORMATS[fmt])
        if fmt == "L":
            return _checked_int64(raw, mask, validity, null_count, name, base)
        return Column._built("int64", raw.astype(np.int64), None, validity, null_count)
    if fmt in _FLOAT_FORMATS:
        raw = _fixed(owner, array, 1, offset, n, _FLOAT_FORMATS[fmt])
        return _checked_int64(raw, mask, validity, null_count, name, base)
    if decimal is not None:
        scale, width = decimal
        if width == 32:
            raw = _fixed(owner, array, 1, offset, n, np.int32)
        else:
            raw = _fixed(owner, array, 1, offset * (width // 64), n * (width // 64), np.uint64)
        return _decimal_int64(raw, scale, width, mask, validity, null_count, name, base)
    if fmt[:2] == "ts":
        multiply, divide = _TS_TO_MS[fmt[2]]
        values = _fixed(owner, array, 1, offset, n, np.int64)
        if multiply != 1:
            # seconds past +-INT64_MAX // 1000 have no int64 milliseconds: multiplied, they
            # would wrap to a valid-looking time (null slots are undefined: not checked)
            limit = (2**63 - 1) // multiply
            outside = (values > limit) | (values < -limit)
            if validity is not None and outside.any():
                outside &= np.unpackbits(validity, count=n, bitorder="little").astype(bool)
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                raise value_error(OverflowError, name, base + row,
                                  f"the timestamp of {int(values[row])} seconds is out of range "
                                  "for int64 milliseconds")
            values = values * multiply
        elif divide != 1:
            values = np.floor_divide(values, divide)
        return Column._built("timestamp", values, None, validity, null_count)
    if fmt == "tdm":
        return Column._built("timestamp", _fixed(owner, array, 1, offset, n, np.int64), None,
                      validity, null_count)
    if fmt == "tdD":
        days = _fixed(owner, array, 1, offset, n, np.int32)
        return Column._built("timestamp", days.astype(np.int64) * 86400000, None, validity, null_count)
    if fmt == "U" or fmt == "u":
        width = 8 if fmt == "U" else 4
        offsets = _fixed(owner, array, 1, offset, n + 1, np.int64 if width == 8 else np.int32)
        end = int(offsets[n]) if n + 1 <= len(offsets) else 0
        data = _wrap(owner, array.buffers[2] if array.n_buffers > 2 else NULL, end, np.uint8)
        if len(offsets) == 0:
            offsets = np.zeros(n + 1, np.int64)
        return Column._built("string", offsets, data, validity, null_count)
    if fmt == "vu":
        offsets, data = _string_view(owner, array, offset, n, mask, name, base)
        return Column._built("string", offsets, data, validity, null_count)
    raise _unsupported(name, fmt)


def _concat(columns, kind):
    """Chunks of one column -> one Column (the single chunk itself when there is one)."""
    if len(columns) == 1:
        return columns[0]
    if not columns:
        return _empty_column(kind)
    null_count = sum(c.null_count for c in columns)
    validity = None
    if null_count:
        validity = np.packbits(np.concatenate([c.valid_mask() for c in columns]),
                               bitorder="little")
    if kind != "string":
        return Column._built(kind, np.concatenate([c.values for c in columns]), None, validity,
                      null_count)
    pieces = [np.zeros(1, np.int64)]
    datas = []
    base = 0
    for c in columns:
        first, last = int(c.values[0]), int(c.values[len(c.values) - 1])
        pieces.append(c.values[1:] - first + base)
        datas.append(c.data[first:last])
        base += last - first
    return Column._built("string", np.concatenate(pieces),
                  np.concatenate(datas) if datas else np.zeros(0, np.uint8), validity, null_count)


cdef tuple _import_chunk(_ImportedArray owner, object schema_field, dict wanted, int64_t base):
    """One struct array -> ``(num_rows, {index: Column})`` for the wanted children; ``base``
    rows came before it."""
    cdef ArrowArray* array = &owner.array
    cdef ArrowArray* child
    cdef int64_t offset = array.offset, n = array.length
    if array.n_children != len(schema_field.children):
        raise ValueError(
            f"Arrow array has {array.n_children} children but its schema {len(schema_field.children)}")
    parent_mask = None
    if array.n_buffers > 0 and array.buffers[0] != NULL and array.null_count != 0 and n:
        # a null struct row makes every column null in that row
        parent_mask = _bit_mask(owner, array.buffers[0], offset, n)
        if parent_mask.all():
            parent_mask = None
    columns = {}
    for index, name in wanted.items():
        child = array.children[index]
        if child.length < offset + n:
            raise ValueError(f"column {name!r}: child array shorter than its record batch")
        columns[index] = _convert(owner, child, schema_field.children[index],
                                  offset + child.offset, n, parent_mask, name, base)
    return n, columns


def _wanted(schema_field, names):
    if schema_field.format != "+s":
        raise TypeError(
            f"expected Arrow record batches (a struct type, format '+s'), got format "
            f"{schema_field.format!r}")
    wanted = {}
    seen = set()
    for index, child in enumerate(schema_field.children):
        if names is not None and child.name not in names:
            continue
        if child.name in seen:
            # columns are found by name: which of the two a template means is a guess
            raise ValueError(f"two columns are named {child.name!r}; rename or drop one")
        seen.add(child.name)
        wanted[index] = child.name
    # check every wanted type up front, so an unsupported one fails before any data moves
    kinds = {index: _kind_of(schema_field.children[index], name) for index, name in wanted.items()}
    return wanted, kinds


def _assemble(wanted, kinds, chunks):
    num_rows = sum(rows for rows, _ in chunks)
    columns = {}
    for index, name in wanted.items():
        columns[name] = _concat([cols[index] for _, cols in chunks], kinds[index])
    return Batch(columns, num_rows)


cdef object _stream_error(ArrowArrayStream* stream, int status, what):
    cdef const char* message = stream.get_last_error(stream) if stream.get_last_error != NULL else NULL
    detail = message.decode("utf-8", "replace") if message != NULL else f"error code {status}"
    return OSError(status, f"Arrow stream {what} failed: {detail}")


cdef object _import_stream(object capsule, object names):
    cdef ArrowArrayStream* source = <ArrowArrayStream*>PyCapsule_GetPointer(
        capsule, "arrow_array_stream")
    cdef ArrowArrayStream stream
    cdef ArrowSchema schema
    cdef _ImportedArray owner
    cdef int status
    if source.release == NULL:
        raise ValueError("the Arrow stream was already consumed")
    # move the stream out of the capsule: it is ours to release now
    memcpy(&stream, source, sizeof(ArrowArrayStream))
    source.release = NULL
    memset(&schema, 0, sizeof(ArrowSchema))
    try:
        status = stream.get_schema(&stream, &schema)
        if status:
            raise _stream_error(&stream, status, "get_schema")
        try:
            schema_field = _field_from_schema(&schema)
        finally:
            schema.release(&schema)
        wanted, kinds = _wanted(schema_field, names)
        chunks = []
        rows = 0
        while True:
            owner = _ImportedArray.__new__(_ImportedArray)
            status = stream.get_next(&stream, &owner.array)
            if status:
                owner.array.release = NULL
                raise _stream_error(&stream, status, "get_next")
            if owner.array.release == NULL:
                break
            chunk = _import_chunk(owner, schema_field, wanted, rows)
            chunks.append(chunk)
            rows += chunk[0]
    finally:
        stream.release(&stream)
    return _assemble(wanted, kinds, chunks)


cdef object _import_array(object schema_capsule, object array_capsule, object names):
    cdef ArrowSchema* schema = <ArrowSchema*>PyCapsule_GetPointer(schema_capsule, "arrow_schema")
    cdef ArrowArray* source = <ArrowArray*>PyCapsule_GetPointer(array_capsule, "arrow_array")
    cdef _ImportedArray owner
    if source.release == NULL:
        raise ValueError("the Arrow array was already consumed")
    schema_field = _field_from_schema(schema)
    wanted, kinds = _wanted(schema_field, names)
    owner = _ImportedArray.__new__(_ImportedArray)
    memcpy(&owner.array, source, sizeof(ArrowArray))
    source.release = NULL
    return _assemble(wanted, kinds, [_import_chunk(owner, schema_field, wanted, 0)])


cdef object _stream_column(object capsule, object name):
    """The arrays of a stream of one column's type -> one Column."""
    cdef ArrowArrayStream* source = <ArrowArrayStream*>PyCapsule_GetPointer(
        capsule, "arrow_array_stream")
    cdef ArrowArrayStream stream
    cdef ArrowSchema schema
    cdef _ImportedArray owner
    cdef int status
    if source.release == NULL:
        raise ValueError("the Arrow stream was already consumed")
    memcpy(&stream, source, sizeof(ArrowArrayStream))
    source.release = NULL
    memset(&schema, 0, sizeof(ArrowSchema))
    try:
        status = stream.get_schema(&stream, &schema)
        if status:
            raise _stream_error(&stream, status, "get_schema")
        try:
            field = _field_from_schema(&schema)
        finally:
            schema.release(&schema)
        kind = _kind_of(field, name)
        chunks = []
        rows = 0
        while True:
            owner = _ImportedArray.__new__(_ImportedArray)
            status = stream.get_next(&stream, &owner.array)
            if status:
                owner.array.release = NULL
                raise _stream_error(&stream, status, "get_next")
            if owner.array.release == NULL:
                break
            chunks.append(_convert(owner, &owner.array, field, owner.array.offset,
                                   owner.array.length, None, name, rows))
            rows += owner.array.length
    finally:
        stream.release(&stream)
    return _concat(chunks, kind)


def import_column(obj, name="?"):
    """One column from an Arrow PyCapsule exporter of a single array type: a pyarrow Array or
    ChunkedArray, a polars Series, a pandas (>= 3) Series. The same conversions as
    ``import_batch`` applies to a column (zero-copy where the layout matches), with ``name``
    in its errors."""
    cdef ArrowSchema* schema
    cdef ArrowArray* source
    cdef _ImportedArray owner
    if hasattr(obj, "__arrow_c_stream__"):
        capsule = obj.__arrow_c_stream__()
        if not PyCapsule_IsValid(capsule, "arrow_array_stream"):
            raise TypeError("__arrow_c_stream__ did not return an 'arrow_array_stream' capsule")
        return _stream_column(capsule, name)
    capsules = obj.__arrow_c_array__()
    if (not isinstance(capsules, tuple) or len(capsules) != 2
            or not PyCapsule_IsValid(capsules[0], "arrow_schema")
            or not PyCapsule_IsValid(capsules[1], "arrow_array")):
        raise TypeError("__arrow_c_array__ did not return (arrow_schema, arrow_array) capsules")
    schema = <ArrowSchema*>PyCapsule_GetPointer(capsules[0], "arrow_schema")
    source = <ArrowArray*>PyCapsule_GetPointer(capsules[1], "arrow_array")
    if source.release == NULL:
        raise ValueError("the Arrow array was already consumed")
    field = _field_from_schema(schema)
    _kind_of(field, name)  # an unsupported type fails before the array is taken
    owner = _ImportedArray.__new__(_ImportedArray)
    memcpy(&owner.array, source, sizeof(ArrowArray))
    source.release = NULL
    return _convert(owner, &owner.array, field, owner.array.offset, owner.array.length, None,
                    name)


def import_batch(obj, names=None):
    """Any Arrow PyCapsule exporter -> ``Batch``.

    Parameters
    ----------
    obj : object
        Anything with ``__arrow_c_stream__`` (preferred: pyarrow Table / RecordBatchReader,
        polars DataFrame, pandas >= 2.2 DataFrame, DuckDB relations) or ``__arrow_c_array__``
        (pyarrow RecordBatch, a struct Array) whose type is a struct of columns.
    names : iterable of str, optional
        Convert only these columns; the others are never touched.

    Returns
    -------
    Batch
        int64 / large_string / timestamp[ms] columns whose layout already matches are
        zero-copy views of the producer's memory (kept alive by the arrays). Several chunks
        are concatenated per column.

    Raises
    ------
    TypeError
        For a column type fastctx cannot hold, naming the column and its Arrow format.
    """
    if names is not None:
        names = set(names)
    if hasattr(obj, "__arrow_c_stream__"):
        capsule = obj.__arrow_c_stream__()
        if not PyCapsule_IsValid(capsule, "arrow_array_stream"):
            raise TypeError("__arrow_c_stream__ did not return an 'arrow_array_stream' capsule")
        return _import_stream(capsule, names)
    if hasattr(obj, "__arrow_c_array__"):
        capsules = obj.__arrow_c_array__()
        if (not isinstance(capsules, tuple) or len(capsules) != 2
                or not PyCapsule_IsValid(capsules[0], "arrow_schema")
                or not PyCapsule_IsValid(capsules[1], "arrow_array")):
            raise TypeError("__arrow_c_array__ did not return (arrow_schema, arrow_array) capsules")
        return _import_array(capsules[0], capsules[1], names)
    raise TypeError(
        f"{type(obj).__name__} does not export Arrow data (no __arrow_c_stream__ or "
        "__arrow_c_array__)")
