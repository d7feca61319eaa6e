# cython: language_level=3
"""Proleptic Gregorian dates for the kernels that read and write times (the CLF time in
``_parse``, CloudWatch export prefixes in ``_export``, ISO text in ``_textout``): inline,
without the GIL."""

from libc.stdint cimport int64_t


cdef inline int64_t days_in_month(int64_t year, int64_t month) noexcept nogil:
    """Days in ``month`` (1-12) of ``year``."""
    if month == 2:
        return 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    if month == 4 or month == 6 or month == 9 or month == 11:
        return 30
    return 31


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    """Days since 1970-01-01 of a date (Howard Hinnant's algorithm, written for C's truncating
    division)."""
    cdef int64_t era, yoe, doy, doe
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline void civil_from_days(int64_t z, int64_t *year, int64_t *month, int64_t *day) noexcept nogil:
    """The date of ``z`` days since 1970-01-01 (the inverse of ``days_from_civil``)."""
    cdef int64_t era, doe, yoe, doy, mp
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day[0] = doy - (153 * mp + 2) // 5 + 1
    month[0] = mp + 3 if mp < 10 else mp - 9
    year[0] = yoe + era * 400 + (month[0] <= 2)
