/*
 * The scan's C helpers. Each has a Python twin with the same results, used where this module
 * is not built (and tested against it): validate (wormsign/logs/clf.py), newlines and
 * access_fields (wormsign/detect/prefilter.py, chunkscan.py), long_lines and line_spans
 * (wormsign/detect/prefilter.py), EndCollector (wormsign/detect/keywords.py), burst_windows
 * (wormsign/detect/attribute.py), join_rows (wormsign/detect/report.py), dotted
 * (wormsign/detect/sources.py). All inputs are
 * checked (lengths, offsets, indices) before any is used: a bad call raises, never reads
 * outside a buffer.
 *
 * Fast structural check of Apache/nginx access-log lines (common, combined, vhost-prefixed).
 *
 * validate(buf, prefix_tokens, max_bad) -> (lines, bad, [first bad line numbers...])
 *
 * A line is accepted when it has `prefix_tokens` space-separated non-empty tokens (3 for
 * common/combined, 4 for the vhost-prefixed variant), then "[...]", a space and an opening
 * quote of the request line. Anything after that may be truncated (worm request lines are
 * long and some loggers cut them). The client token (the first, or the second after a vhost)
 * may hold only address characters (hex digits, '.', ':'), 2 to 45 of them: a zone id, a
 * hostname or injected text makes the line a counted skip. Blank lines are accepted. This mirrors the regular
 * expression in wormsign/logs/clf.py, which is the reference and the fallback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <fcntl.h>
#include <linux/falloc.h>
#endif

static int address_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
        || c == '.' || c == ':';
}

static int check_line(const unsigned char *s, const unsigned char *e, int prefix_tokens)
{
    if (s == e) return 1;                        /* blank line */
    for (int t = 0; t < prefix_tokens; t++) {
        const unsigned char *start = s;
        if (t == prefix_tokens - 3) {            /* the client address */
            while (s < e && address_char(*s)) s++;
            if (s - start < 2 || s - start > 45) return 0;
        } else {
            while (s < e && *s != ' ') s++;
        }
        if (s == start || s >= e || *s != ' ') return 0;
        s++;                                     /* the separating space */
    }
    if (s >= e || *s != '[') return 0;
    const unsigned char *close = memchr(s, ']', (size_t)(e - s));
    if (close == NULL) return 0;
    s = close + 1;
    if (e - s < 2 || s[0] != ' ' || s[1] != '"') return 0;
    return 1;
}

/* The lines of buf checked; with want_nl, the offsets of its '\n's as well (a bytes of int64
 * values in *nl_out), found in the same pass. */
static PyObject *validate_impl(PyObject *args, int want_nl)
{
    Py_buffer view;
    int prefix_tokens;
    Py_ssize_t max_bad;
    if (!PyArg_ParseTuple(args, "y*in", &view, &prefix_tokens, &max_bad)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf, *p = b;
    const unsigned char *end = p + view.len;
    Py_ssize_t lines = 0, bad = 0, n_nl = 0, cap = want_nl ? view.len / 64 + 16 : 0;
    PyObject *nls = NULL;
    PyObject *bad_list = PyList_New(0);
    if (bad_list == NULL) goto fail;
    if (want_nl && (nls = PyBytes_FromStringAndSize(NULL, cap * 8)) == NULL) goto fail;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *le = nl ? nl : end;
        const unsigned char *ce = le;
        if (ce > p && ce[-1] == '\r') ce--;
        lines++;
        if (!check_line(p, ce, prefix_tokens)) {
            bad++;
            if (bad <= max_bad) {
                PyObject *n = PyLong_FromSsize_t(lines);
                if (n == NULL || PyList_Append(bad_list, n) < 0) { Py_XDECREF(n); goto fail; }
                Py_DECREF(n);
            }
        }
        if (nl == NULL) break;
        if (want_nl) {
            if (n_nl == cap) {
                cap = cap * 2 < view.len ? cap * 2 : view.len;
                if (_PyBytes_Resize(&nls, cap * 8) < 0) goto fail;
            }
            ((int64_t *)PyBytes_AS_STRING(nls))[n_nl++] = nl - b;
        }
        p = nl + 1;
    }
    PyBuffer_Release(&view);
    if (!want_nl) return Py_BuildValue("nnN", lines, bad, bad_list);
    if (_PyBytes_Resize(&nls, n_nl * 8) < 0) { Py_DECREF(bad_list); return NULL; }
    return Py_BuildValue("nnNN", lines, bad, bad_list, nls);
fail:
    Py_XDECREF(bad_list);
    Py_XDECREF(nls);
    PyBuffer_Release(&view);
    return NULL;
}

static PyObject *validate(PyObject *self, PyObject *args)
{
    (void)self;
    return validate_impl(args, 0);
}

/* validate_nl(buf, prefix_tokens, max_bad) -> (lines, bad, first bad, newline offsets):
 * validate and newlines in one pass (the scanner of wormsign/detect/chunkscan.py). */
static PyObject *validate_nl(PyObject *self, PyObject *args)
{
    (void)self;
    return validate_impl(args, 1);
}


/* ---- access_fields: the per-line work of the detection core for flagged lines ----
 *
 * access_fields(buf, starts, ends, prefix_tokens, out) -> number of distinct request texts
 *
 * starts, ends: int64 arrays (byte offsets of the lines to read, end at the newline);
 * out: a writable int64 array of 8 * len(starts) values, row i:
 *   [0] request-text id: dense, numbered in order of first appearance, of the text after
 *       '] "' (with the vhost when prefix_tokens is 4); -1 when the line does not have the
 *       shape the fast reader takes (the caller then reads it the general way)
 *   [1] source key: -2 - the address number for canonical dotted IPv4, NEED otherwise
 *   [2] time in microseconds since the epoch, NO_TIME, or NEED (not the usual form)
 *   [3], [4] the source token's start and end; [5] the time token's start (its '[');
 *   [6] where the request text starts (after '] "'); [7] the line's end without its '\r's.
 * This mirrors ChunkScanner._scan_access and ChunkScanner._clf_time in
 * wormsign/detect/chunkscan.py, which are the reference and the fallback.
 */
#define NEED (INT64_MIN + 1)
#define NO_TIME INT64_MIN

static int64_t ipv4_key(const unsigned char *s, const unsigned char *e)
{
    uint32_t num = 0;
    for (int k = 0; k < 4; k++) {
        const unsigned char *d = s;
        unsigned v = 0;
        while (s < e && *s >= '0' && *s <= '9' && s - d < 4) { v = v * 10 + (*s - '0'); s++; }
        Py_ssize_t len = s - d;
        if (len == 0 || len > 3 || (len > 1 && *d == '0') || v > 255) return NEED;
        num = (num << 8) | v;
        if (k < 3) {
            if (s >= e || *s != '.') return NEED;
            s++;
        }
    }
    if (s != e) return NEED;
    return -2 - (int64_t)num;
}

static int digit2(const unsigned char *p, int *v)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    *v = (p[0] - '0') * 10 + (p[1] - '0');
    return 1;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "[19/Jul/2001:10:23:45 -0700" (exactly), as _CLF_TIME and _clf_time read it. */
static int64_t clf_time(const unsigned char *s, const unsigned char *e)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dd, yh, yl, h, mi, se, zh, zm;
    if (e - s != 27 || s[0] != '[' || s[3] != '/' || s[7] != '/' || s[12] != ':'
        || s[15] != ':' || s[18] != ':' || s[21] != ' ' || (s[22] != '+' && s[22] != '-'))
        return NEED;
    if (!digit2(s + 1, &dd) || !digit2(s + 8, &yh) || !digit2(s + 10, &yl)
        || !digit2(s + 13, &h) || !digit2(s + 16, &mi) || !digit2(s + 19, &se)
        || !digit2(s + 23, &zh) || !digit2(s + 25, &zm))
        return NEED;
    if (!(s[4] >= 'A' && s[4] <= 'Z') || !(s[5] >= 'a' && s[5] <= 'z')
        || !(s[6] >= 'a' && s[6] <= 'z'))
        return NEED;
    if (!(yh == 19 || (yh >= 20 && yh <= 29))) return NEED;
    /* the form matches: from here on the answer is a time or NO_TIME */
    int month = 0;
    for (int k = 0; k < 12; k++)
        if (memcmp(months + 3 * k, s + 4, 3) == 0) { month = k + 1; break; }
    int year = yh * 100 + yl;
    if (month == 0 || dd < 1) return NO_TIME;
    int dim = mdays[month - 1];
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) dim = 29;
    if (dd > dim) return NO_TIME;
    int64_t day = days_from_civil(year, (unsigned)month, (unsigned)dd) * 86400;
    int zoff = zh * 60 + zm;
    if (day < 0 || h > 23 || mi > 59 || se > 59 || zoff >= 1440) return NO_TIME;
    int64_t off = s[22] == '+' ? (int64_t)zoff * 60 : -(int64_t)zoff * 60;
    return (day + h * 3600 + mi * 60 + se - off) * 1000000;
}

/* Python's own keyed hash of bytes (SipHash with the process's random key), so that crafted
 * log lines cannot collide on purpose and make the table below quadratic. */
static uint64_t hash_bytes(uint64_t h, const unsigned char *s, const unsigned char *e)
{
    return (h * 1000003ULL) ^ (uint64_t)_Py_HashBytes(s, e - s);
}

static PyObject *access_fields(PyObject *self, PyObject *args)
{
    Py_buffer buf, vs, ve, vo;
    int prefix;
    if (!PyArg_ParseTuple(args, "y*y*y*iw*", &buf, &vs, &ve, &prefix, &vo)) return NULL;
    PyObject *result = NULL;
    int64_t *table = NULL;
    Py_ssize_t n = vs.len / 8;
    if ((prefix != 3 && prefix != 4) || ve.len != vs.len || vo.len < vs.len * 8) {
        PyErr_SetString(PyExc_ValueError, "access_fields: bad arguments");
        goto done;
    }
    const unsigned char *b = (const unsigned char *)buf.buf;
    const int64_t *st = (const int64_t *)vs.buf, *en = (const int64_t *)ve.buf;
    int64_t *out = (int64_t *)vo.buf;
    Py_ssize_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    table = PyMem_Malloc(sizeof(int64_t) * (size_t)cap);  /* row of each text's first line */
    if (table == NULL) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t k = 0; k < cap; k++) table[k] = -1;
    int64_t ids = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t *o = out + 8 * i;
        memset(o, 0, 8 * sizeof(int64_t));
        o[0] = -1;
        if (st[i] < 0 || en[i] < st[i] || en[i] > buf.len) {
            PyErr_SetString(PyExc_ValueError, "access_fields: line outside the buffer");
            goto done;
        }
        const unsigned char *s = b + st[i], *e = b + en[i];
        while (e > s && e[-1] == '\r') e--;
        const unsigned char *cut = NULL;
        for (const unsigned char *p = s; p + 3 <= e; p++) {
            p = memchr(p, ']', (size_t)(e - p));
            if (p == NULL || p + 3 > e) break;
            if (p[1] == ' ' && p[2] == '"') { cut = p; break; }
        }
        if (cut == NULL || cut == s) continue;
        const unsigned char *p = s, *tok_s[4], *tok_e[4];
        int ok = 1;
        for (int t = 0; t < prefix; t++) {
            const unsigned char *sp = memchr(p, ' ', (size_t)(cut - p));
            if (sp == NULL || sp == p) { ok = 0; break; }
            tok_s[t] = p; tok_e[t] = sp;
            p = sp + 1;
        }
        if (!ok || p >= cut || *p != '[') continue;
        const unsigned char *src_s = tok_s[prefix - 3], *src_e = tok_e[prefix - 3];
        o[1] = ipv4_key(src_s, src_e);
        o[2] = clf_time(p, cut);
        o[3] = src_s - b; o[4] = src_e - b; o[5] = p - b; o[6] = cut + 3 - b; o[7] = e - b;
        const unsigned char *ts = cut + 3;
        uint64_t h = hash_bytes(0, ts, e);
        if (prefix == 4) h = hash_bytes(h, tok_s[0], tok_e[0]);
        Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        for (;;) {
            int64_t r = table[slot];
            if (r < 0) {
                table[slot] = i;
                o[0] = ids++;
                break;
            }
            const int64_t *q = out + 8 * r;
            const unsigned char *qs = b + st[r];
            Py_ssize_t vlen = tok_e[0] - tok_s[0];
            if (q[7] - q[6] == e - ts && memcmp(b + q[6], ts, (size_t)(e - ts)) == 0
                && (prefix == 3 || (memchr(qs, ' ', (size_t)vlen + 1) == qs + vlen
                                    && memcmp(qs, tok_s[0], (size_t)vlen) == 0))) {
                o[0] = q[0];
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
    }
    result = PyLong_FromLongLong(ids);
done:
    PyMem_Free(table);
    PyBuffer_Release(&buf); PyBuffer_Release(&vs); PyBuffer_Release(&ve); PyBuffer_Release(&vo);
    return result;
}

/* newlines(buf) -> bytes: the offsets of the '\n's of buf, as native int64 values
 * (numpy.frombuffer(..., numpy.int64)); what numpy.flatnonzero(buf == 10) gives. */
static PyObject *newlines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const char *b = (const char *)view.buf, *p = b, *end = b + view.len;
    Py_ssize_t cap = view.len / 64 + 16, n = 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(int64_t));
    while (out != NULL && p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (n == cap) {  /* short lines: grow (amortised doubling) */
            cap = cap * 2 < view.len ? cap * 2 : view.len;
            if (_PyBytes_Resize(&out, cap * (Py_ssize_t)sizeof(int64_t)) < 0) break;
        }
        ((int64_t *)PyBytes_AS_STRING(out))[n++] = p++ - b;
    }
    if (out != NULL) _PyBytes_Resize(&out, n * (Py_ssize_t)sizeof(int64_t));
    PyBuffer_Release(&view);
    return out;
}

/* ---- burst_windows: the sliding burst window of the detection core's attribution ----
 *
 * burst_windows(ts, keys, member_bounds, all_t, all_bounds, n_keys, within, min_requests,
 *               min_distinct, max_other_share, out)
 *
 * Groups g (one per source): ts[member_bounds[g]:member_bounds[g+1]] are the sorted times
 * (float64 seconds) of the source's burst requests, keys their distinct-request codes
 * (int64, 0 <= key < n_keys), all_t[all_bounds[g]:all_bounds[g+1]] the sorted times of
 * everything it sent. out (uint8, one per ts) is set to 1 where a request lies inside a
 * burst that qualifies. This mirrors _window in wormsign/detect/attribute.py, the reference
 * and the fallback (the same float64 arithmetic, so the same answers).
 */
static Py_ssize_t bisect_left(const double *a, Py_ssize_t n, double x)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) { Py_ssize_t mid = (lo + hi) / 2; if (a[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
}

static Py_ssize_t bisect_right(const double *a, Py_ssize_t n, double x)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) { Py_ssize_t mid = (lo + hi) / 2; if (x < a[mid]) hi = mid; else lo = mid + 1; }
    return lo;
}

static void one_window(const double *ts, const int64_t *keys, Py_ssize_t n, const double *all,
                       Py_ssize_t n_all, int64_t *counts, double within, Py_ssize_t min_req,
                       Py_ssize_t min_dist, double share, unsigned char *out)
{
    Py_ssize_t lo = 0, done = 0, ndist = 0;
    for (Py_ssize_t hi = 0; hi < n; hi++) {
        if (counts[keys[hi]]++ == 0) ndist++;
        while (lo < hi && ts[hi] - ts[lo] > within) {
            if (--counts[keys[lo]] == 0) ndist--;
            lo++;
        }
        if (hi - lo + 1 < min_req || ndist < min_dist) continue;
        double lo_t = ts[lo] - within, hi_t = ts[hi] + within;
        Py_ssize_t total = bisect_right(all, n_all, hi_t) - bisect_left(all, n_all, lo_t);
        Py_ssize_t mine = bisect_right(ts, n, hi_t) - bisect_left(ts, n, lo_t);
        if (total && (double)(total - mine) / (double)total <= share) {
            for (Py_ssize_t j = lo > done ? lo : done; j <= hi; j++) out[j] = 1;
            done = hi + 1;
        }
    }
    for (Py_ssize_t j = lo; j < n; j++) counts[keys[j]] = 0;
}

static PyObject *burst_windows(PyObject *self, PyObject *args)
{
    Py_buffer vts, vkeys, vmb, vall, vab, vout;
    Py_ssize_t n_keys, min_req, min_dist;
    double within, share;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*ndnndw*", &vts, &vkeys, &vmb, &vall, &vab,
                          &n_keys, &within, &min_req, &min_dist, &share, &vout))
        return NULL;
    PyObject *result = NULL;
    int64_t *counts = NULL;
    const double *ts = vts.buf, *all = vall.buf;
    const int64_t *keys = vkeys.buf, *mb = vmb.buf, *ab = vab.buf;
    Py_ssize_t n = vts.len / 8, n_all = vall.len / 8, groups = vmb.len / 8 - 1;
    if (vkeys.len != vts.len || vout.len != n || vab.len != vmb.len || groups < 0
        || n_keys < 0) {
        PyErr_SetString(PyExc_ValueError, "burst_windows: bad arguments");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (keys[i] < 0 || keys[i] >= n_keys) {
            PyErr_SetString(PyExc_ValueError, "burst_windows: key out of range");
            goto done;
        }
    for (Py_ssize_t g = 0; g < groups; g++)
        if (mb[g] < 0 || mb[g] > mb[g + 1] || mb[g + 1] > n || ab[g] < 0 || ab[g] > ab[g + 1]
            || ab[g + 1] > n_all) {
            PyErr_SetString(PyExc_ValueError, "burst_windows: bad group bounds");
            goto done;
        }
    counts = PyMem_Calloc((size_t)n_keys + 1, sizeof(int64_t));
    if (counts == NULL) { PyErr_NoMemory(); goto done; }
    memset(vout.buf, 0, (size_t)n);
    for (Py_ssize_t g = 0; g < groups; g++)
        one_window(ts + mb[g], keys + mb[g], mb[g + 1] - mb[g], all + ab[g], ab[g + 1] - ab[g],
                   counts, within, min_req, min_dist, share, (unsigned char *)vout.buf + mb[g]);
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_Free(counts);
    PyBuffer_Release(&vts); PyBuffer_Release(&vkeys); PyBuffer_Release(&vmb);
    PyBuffer_Release(&vall); PyBuffer_Release(&vab); PyBuffer_Release(&vout);
    return result;
}

/* ---- join_rows: text rows put together from columns of distinct pieces ----
 *
 * join_rows(columns, n) -> bytes
 *
 * Each column is either (pieces, index): a list of bytes and an int64 array of n indices
 * into it; or (cells, width): a buffer of n * width bytes, row i's value its i-th width
 * bytes up to the first NUL (numpy's fixed-width bytes); or an int64 array of n numbers
 * (written in decimal). Row i is the concatenation of every column's value for i; the rows
 * are concatenated. The --alerts writer and the --json sources of wormsign/detect/report.py
 * use it (their numpy forms are the fallback, with the same bytes). JOIN_KINDS (below) is 2
 * since (cells, width) columns exist.
 */
static int digits(int64_t v, char *out)
{
    char tmp[24];
    int k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) tmp[k++] = '-';
    for (int j = 0; j < k; j++) out[j] = tmp[k - 1 - j];
    return k;
}

static PyObject *join_rows(PyObject *self, PyObject *args)
{
    PyObject *cols, *result = NULL;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n", &PyTuple_Type, &cols, &n)) return NULL;
    Py_ssize_t nc = PyTuple_GET_SIZE(cols);
    if (nc > 16 || n < 0) { PyErr_SetString(PyExc_ValueError, "join_rows: bad arguments"); return NULL; }
    Py_buffer idx[16];
    PyObject *pieces[16];
    Py_ssize_t width[16];
    int acquired = 0;
    for (int c = 0; c < nc; c++) {
        PyObject *col = PyTuple_GET_ITEM(cols, c);
        pieces[c] = NULL;
        width[c] = 0;
        if (PyTuple_Check(col)) {
            if (PyTuple_GET_SIZE(col) == 2 && PyLong_Check(PyTuple_GET_ITEM(col, 1))) {
                width[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(col, 1));
                if (width[c] <= 0) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_ValueError, "join_rows: width must be > 0");
                    goto done;
                }
                col = PyTuple_GET_ITEM(col, 0);
            } else if (PyTuple_GET_SIZE(col) != 2 || !PyList_Check(PyTuple_GET_ITEM(col, 0))) {
                PyErr_SetString(PyExc_TypeError,
                                "join_rows: a column is (list, index) or (cells, width)");
                goto done;
            } else {
                pieces[c] = PyTuple_GET_ITEM(col, 0);
                col = PyTuple_GET_ITEM(col, 1);
            }
        }
        if (PyObject_GetBuffer(col, &idx[c], PyBUF_SIMPLE) < 0) goto done;
        acquired++;
        if (idx[c].len != n * (width[c] ? width[c] : 8)) {
            PyErr_SetString(PyExc_ValueError, width[c]
                            ? "join_rows: a cells column is not n * width bytes"
                            : "join_rows: a column is not n int64 values");
            goto done;
        }
    }
    Py_ssize_t total = 0;
    for (int c = 0; c < nc; c++) {
        const int64_t *v = idx[c].buf;
        if (width[c]) { total += n * width[c]; continue; }
        if (pieces[c] == NULL) { total += n * 20; continue; }  /* at most 20 characters */
        Py_ssize_t np_ = PyList_GET_SIZE(pieces[c]);
        for (Py_ssize_t k = 0; k < np_; k++)
            if (!PyBytes_Check(PyList_GET_ITEM(pieces[c], k))) {
                PyErr_SetString(PyExc_TypeError, "join_rows: pieces must be bytes");
                goto done;
            }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (v[i] < 0 || v[i] >= np_) {
                PyErr_SetString(PyExc_IndexError, "join_rows: index out of range");
                goto done;
            }
            total += PyBytes_GET_SIZE(PyList_GET_ITEM(pieces[c], v[i]));
        }
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) goto done;
    char *o = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++)
        for (int c = 0; c < nc; c++) {
            if (width[c]) {
                const char *cell = (const char *)idx[c].buf + i * width[c];
                const char *nul = memchr(cell, 0, (size_t)width[c]);
                size_t len = nul ? (size_t)(nul - cell) : (size_t)width[c];
                memcpy(o, cell, len);
                o += len;
                continue;
            }
            int64_t v = ((const int64_t *)idx[c].buf)[i];
            if (pieces[c] == NULL) { o += digits(v, o); continue; }
            PyObject *b = PyList_GET_ITEM(pieces[c], v);
            memcpy(o, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
            o += PyBytes_GET_SIZE(b);
        }
    _PyBytes_Resize(&result, o - PyBytes_AS_STRING(result));
done:
    for (int c = 0; c < acquired; c++) PyBuffer_Release(&idx[c]);
    return result;
}

/* ---- long_lines: the lines longer than a limit, from the newline offsets ----
 *
 * long_lines(newlines, size, limit) -> [(start, end), ...]
 *
 * newlines: the int64 offsets of a chunk's '\n's (validate_nl's fourth value), in order;
 * size: the chunk's length. A line runs from after the previous newline (or 0) to its
 * newline (or size, for a last line without one); those longer than limit bytes are listed.
 * The twin is wormsign/detect/prefilter.py long_lines (numpy).
 */
static PyObject *long_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t size, limit;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &size, &limit)) return NULL;
    PyObject *out = NULL;
    if (view.len % 8 != 0 || size < 0 || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "long_lines: bad arguments");
        goto done;
    }
    const int64_t *nl = (const int64_t *)view.buf;
    Py_ssize_t n = view.len / 8;
    if ((out = PyList_New(0)) == NULL) goto done;
    int64_t start = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        int64_t end = i < n ? nl[i] : (int64_t)size;
        if (end < start || end > (int64_t)size) {
            PyErr_SetString(PyExc_ValueError, "long_lines: newline offsets out of order");
            Py_CLEAR(out);
            goto done;
        }
        if (end - start > (int64_t)limit) {
            PyObject *t = Py_BuildValue("(LL)", (long long)start, (long long)end);
            if (t == NULL || PyList_Append(out, t) < 0) { Py_XDECREF(t); Py_CLEAR(out); goto done; }
            Py_DECREF(t);
        }
        start = end + 1;
    }
done:
    PyBuffer_Release(&view);
    return out;
}

/* ---- EndCollector: a Hyperscan match handler that keeps the reported end offsets ----
 *
 * ends = EndCollector(); db.scan(buf, match_event_handler=ends); ends.take() -> bytes
 *
 * Called as python-hyperscan calls a handler, (id, from, to, flags, context), it appends
 * base + to (base: an attribute, 0 at first; the offset of a scanned piece in its chunk) to
 * an int64 array and returns None (go on). take() returns the offsets kept (native int64
 * bytes) and empties the collector. A Python function doing the same costs a frame per
 * match; a flagged line is one match (wormsign/detect/keywords.py, which has the twin).
 */
typedef struct {
    PyObject_HEAD
    int64_t *buf;
    Py_ssize_t n, cap;
    long long base;
} EndCollector;

static void EndCollector_dealloc(EndCollector *self)
{
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *EndCollector_call(EndCollector *self, PyObject *args, PyObject *kwds)
{
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "EndCollector takes no keyword arguments");
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) < 3) {
        PyErr_SetString(PyExc_TypeError, "EndCollector: expected (id, from, to, ...)");
        return NULL;
    }
    long long to = PyLong_AsLongLong(PyTuple_GET_ITEM(args, 2));
    if (to == -1 && PyErr_Occurred()) return NULL;
    if (self->n == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 1024;
        int64_t *grown = PyMem_Realloc(self->buf, (size_t)cap * sizeof(int64_t));
        if (grown == NULL) return PyErr_NoMemory();
        self->buf = grown;
        self->cap = cap;
    }
    self->buf[self->n++] = (int64_t)(self->base + to);
    Py_RETURN_NONE;
}

static PyObject *EndCollector_take(EndCollector *self, PyObject *unused)
{
    (void)unused;
    PyObject *out = PyBytes_FromStringAndSize((const char *)self->buf,
                                              self->n * (Py_ssize_t)sizeof(int64_t));
    if (out != NULL) self->n = 0;
    return out;
}

static PyObject *EndCollector_get_base(EndCollector *self, void *closure)
{
    (void)closure;
    return PyLong_FromLongLong(self->base);
}

static int EndCollector_set_base(EndCollector *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "base cannot be deleted");
        return -1;
    }
    long long base = PyLong_AsLongLong(value);
    if (base == -1 && PyErr_Occurred()) return -1;
    self->base = base;
    return 0;
}

static PyMethodDef EndCollector_methods[] = {
    {"take", (PyCFunction)EndCollector_take, METH_NOARGS,
     "take() -> the kept end offsets as native int64 bytes (the collector is emptied)"},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef EndCollector_getset[] = {
    {"base", (getter)EndCollector_get_base, (setter)EndCollector_set_base,
     "added to every end offset kept from now on", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject EndCollectorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wormsign.logs._clfscan.EndCollector",
    .tp_basicsize = sizeof(EndCollector),
    .tp_dealloc = (destructor)EndCollector_dealloc,
    .tp_call = (ternaryfunc)EndCollector_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A Hyperscan match handler keeping base + to of every match (see the source).",
    .tp_methods = EndCollector_methods,
    .tp_getset = EndCollector_getset,
    .tp_new = PyType_GenericNew,
};

/* ---- line_spans: the lines that hold reported end offsets ----
 *
 * line_spans(newlines, ends, size) -> (lines, starts, stops) or None
 *
 * newlines: a chunk's int64 '\n' offsets, in order; ends: int64 end offsets of matches
 * (EndCollector.take()), each inside a line (after its first byte, at most at its newline
 * or the chunk's end), in order; size: the chunk's length. The distinct lines holding an
 * end: index (the line's number of newlines before it), start and stop (its newline, or
 * size), as native int64 bytes, in one merge of the two lists. None when ends are out of
 * order (the caller's numpy twin, wormsign/detect/prefilter.py lines_ending_at, then
 * decides).
 */
static PyObject *line_spans(PyObject *self, PyObject *args)
{
    Py_buffer nlv, endv;
    Py_ssize_t size;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*n", &nlv, &endv, &size)) return NULL;
    PyObject *lines = NULL, *starts = NULL, *stops = NULL, *out = NULL;
    if (nlv.len % 8 != 0 || endv.len % 8 != 0 || size < 0) {
        PyErr_SetString(PyExc_ValueError, "line_spans: bad arguments");
        goto done;
    }
    const int64_t *nl = (const int64_t *)nlv.buf, *ends = (const int64_t *)endv.buf;
    Py_ssize_t n_nl = nlv.len / 8, n_ends = endv.len / 8;
    for (Py_ssize_t i = 1; i < n_ends; i++) {
        if (ends[i] < ends[i - 1]) { out = Py_None; Py_INCREF(out); goto done; }
    }
    Py_ssize_t bytes = n_ends * (Py_ssize_t)sizeof(int64_t);
    lines = PyBytes_FromStringAndSize(NULL, bytes);
    starts = PyBytes_FromStringAndSize(NULL, bytes);
    stops = PyBytes_FromStringAndSize(NULL, bytes);
    if (lines == NULL || starts == NULL || stops == NULL) goto done;
    int64_t *li = (int64_t *)PyBytes_AS_STRING(lines);
    int64_t *st = (int64_t *)PyBytes_AS_STRING(starts);
    int64_t *sp = (int64_t *)PyBytes_AS_STRING(stops);
    Py_ssize_t j = 0, k = 0;
    for (Py_ssize_t i = 0; i < n_ends; i++) {
        while (j < n_nl && nl[j] < ends[i] - 1) j++;   /* searchsorted(nl, end - 1) */
        if (k > 0 && li[k - 1] == (int64_t)j) continue;
        li[k] = (int64_t)j;
        st[k] = j > 0 ? nl[j - 1] + 1 : 0;
        sp[k] = j < n_nl ? nl[j] : (int64_t)size;
        k++;
    }
    Py_ssize_t used = k * (Py_ssize_t)sizeof(int64_t);
    if (_PyBytes_Resize(&lines, used) < 0 || _PyBytes_Resize(&starts, used) < 0
        || _PyBytes_Resize(&stops, used) < 0) goto done;
    out = PyTuple_Pack(3, lines, starts, stops);
done:
    Py_XDECREF(lines);
    Py_XDECREF(starts);
    Py_XDECREF(stops);
    PyBuffer_Release(&nlv);
    PyBuffer_Release(&endv);
    return out;
}

/* ---- dotted: IPv4 numbers as dotted text in rows of 15 NUL-padded bytes ----
 *
 * dotted(ips, out): ips holds native uint32 numbers; out (writable, 15 bytes per number,
 * zeroed by the caller) receives each as "a.b.c.d". The twin is wormsign/detect/sources.py
 * _dotted (numpy).
 */
static PyObject *dotted(PyObject *self, PyObject *args)
{
    Py_buffer ipv, outv;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*", &ipv, &outv)) return NULL;
    PyObject *result = NULL;
    if (ipv.len % 4 != 0 || outv.len != (ipv.len / 4) * 15) {
        PyErr_SetString(PyExc_ValueError, "dotted: bad arguments");
        goto done;
    }
    const uint32_t *ips = (const uint32_t *)ipv.buf;
    unsigned char *out = (unsigned char *)outv.buf;
    Py_ssize_t n = ipv.len / 4;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char *o = out + i * 15;
        uint32_t v = ips[i];
        for (int k = 3; k >= 0; k--) {
            unsigned int octet = (v >> (8 * k)) & 255u;
            if (octet >= 100) *o++ = (unsigned char)('0' + octet / 100);
            if (octet >= 10) *o++ = (unsigned char)('0' + (octet / 10) % 10);
            *o++ = (unsigned char)('0' + octet % 10);
            if (k) *o++ = '.';
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&ipv);
    PyBuffer_Release(&outv);
    return result;
}

/* ---- preallocate: disk space for a region of a file about to be written ----
 *
 * preallocate(fd, offset, length) -> bool
 *
 * fallocate(2) with FALLOC_FL_KEEP_SIZE (Linux): the region's blocks are allocated, the file's
 * size is left as it is, so writing into them does not reserve space page by page (a 209 MB
 * alerts file is copied in 0.044 s instead of 0.064 s on ext4). False, and nothing done, where
 * the system or the file system cannot (the file is then written as usual). Its twin is to do
 * nothing (wormsign/cli/_files.py).
 */
static PyObject *preallocate(PyObject *self, PyObject *args)
{
    int fd;
    long long offset, length;
    (void)self;
    if (!PyArg_ParseTuple(args, "iLL", &fd, &offset, &length)) return NULL;
#ifdef __linux__
    if (fd >= 0 && offset >= 0 && length > 0) {
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
        Py_END_ALLOW_THREADS
        if (r == 0) Py_RETURN_TRUE;
    }
#else
    (void)fd; (void)offset; (void)length;
#endif
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"validate", validate, METH_VARARGS,
     "validate(buf, prefix_tokens, max_bad) -> (lines, bad, first_bad_line_numbers)"},
    {"access_fields", access_fields, METH_VARARGS,
     "access_fields(buf, starts, ends, prefix_tokens, out) -> distinct request texts"},
    {"newlines", newlines, METH_VARARGS, "newlines(buf) -> int64 offsets of the newlines"},
    {"validate_nl", validate_nl, METH_VARARGS,
     "validate_nl(buf, prefix_tokens, max_bad) -> (lines, bad, first_bad, newline offsets)"},
    {"join_rows", join_rows, METH_VARARGS, "join_rows(columns, n) -> bytes"},
    {"preallocate", preallocate, METH_VARARGS,
     "preallocate(fd, offset, length) -> whether the region's space was allocated"},
    {"long_lines", long_lines, METH_VARARGS,
     "long_lines(newlines, size, limit) -> [(start, end)] of the lines longer than limit"},
    {"dotted", dotted, METH_VARARGS,
     "dotted(ips, out): uint32 numbers as dotted text in rows of 15 NUL-padded bytes"},
    {"line_spans", line_spans, METH_VARARGS,
     "line_spans(newlines, ends, size) -> (lines, starts, stops) int64 bytes, or None"},
    {"burst_windows", burst_windows, METH_VARARGS,
     "burst_windows(ts, keys, member_bounds, all_t, all_bounds, n_keys, within, "
     "min_requests, min_distinct, max_other_share, out)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_clfscan", "The scan's C helpers (see the source).", -1, methods,
    NULL, NULL, NULL, NULL
};

/* RULES: the version of the line rules above; clf.py uses this module only when it matches
 * (a stale build would disagree with the Python twin). 2: the client token is checked. */
PyMODINIT_FUNC PyInit__clfscan(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "RULES", 2) < 0) { Py_DECREF(m); return NULL; }
    if (m != NULL && PyModule_AddIntConstant(m, "JOIN_KINDS", 2) < 0) { Py_DECREF(m); return NULL; }
    if (m != NULL && (PyType_Ready(&EndCollectorType) < 0
                      || PyModule_AddObjectRef(m, "EndCollector",
                                               (PyObject *)&EndCollectorType) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
