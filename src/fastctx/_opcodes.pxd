# cython: language_level=3
"""C mirrors of the enums in ``program.py``; ``tests/test_program.py`` checks they agree.

Kernels switch on these values, so they must equal the Python ``IntEnum`` members exactly.
"""

cdef enum op_t:
    OP_LIT = 1
    OP_VAR = 2

cdef enum vtype_t:
    VT_INT = 0
    VT_EPOCH_MS = 1
    VT_CLF_TIME = 2
    VT_TOKEN = 3
    VT_TEXT = 4
    VT_QUOTED = 5

cdef enum esc_t:
    ESC_NONE = 0
    ESC_JSON_STR = 1
    ESC_JSON_BARE = 2
    ESC_XML = 3
    ESC_CSV = 4
    ESC_CLF_QUOTED = 5
    ESC_CLF_BRACKET = 6
    ESC_CLF_BARE = 7
    ESC_CLF_QUOTED_TOKEN = 8
    ESC_COUNT = 9

cdef enum action_t:
    ACT_COPY = 0
    ACT_BACKSLASH = 1
    ACT_HEX = 2
    ACT_JSON_CTRL = 3
    ACT_XML_ENTITY = 4
    ACT_XML_DROP = 5
    ACT_XML_EF = 6
    ACT_CSV_QUOTE = 7

# Column kinds of ``batch.KINDS`` (by index), plus "no column" for a variable without one.
cdef enum column_kind_t:
    KIND_INT64 = 0
    KIND_TIMESTAMP = 1
    KIND_STRING = 2
    KIND_MISSING = 3

# The UTC times a CLF time can show, 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z
# (``_reference.MIN_CLF_MS`` / ``MAX_CLF_MS``): render refuses others, parse rejects them.
cdef extern from *:
    """
    #define FASTCTX_MIN_CLF_MS (-62167219200000LL)
    #define FASTCTX_MAX_CLF_MS 253402300799999LL
    """
    const long long MIN_CLF_MS "FASTCTX_MIN_CLF_MS"
    const long long MAX_CLF_MS "FASTCTX_MAX_CLF_MS"
