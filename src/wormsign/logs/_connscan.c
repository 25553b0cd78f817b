/*
 * The connection readers' C helper: Zeek conn.log TSV rows into columns.
 *
 * scan_tsv(buf, cfg, roles, table, out_t, out_i, counts) -> (pos, rows, line)
 *
 * The twin of wormsign/logs/zeekconn.py's _scan_tsv (numba), with the same arguments and
 * results; that one is used where this module is not built, and the tests run both on the
 * same inputs. A numba kernel pays about a second of start-up (importing numba, loading the
 * cached machine code) in every process, more than reading a million rows takes; this
 * module costs nothing to load.
 *
 * buf: the bytes of whole lines. cfg: int64[5] = start offset, separator byte, number of
 * #fields (0: none yet), lines before the start, whether the header names both addresses.
 * roles: int64 per field (-1 unread, 0 ts, 1 id.orig_h, 2 id.orig_p, 3 id.resp_h,
 * 4 id.resp_p, 5 proto, 6 conn_state, 7 orig_bytes, 8 resp_bytes). table: int64[k][3] =
 * (kind 0 proto / 1 state, name packed little-endian in an int64, value). out_t: float64[cap];
 * out_i: int64[cap][10] (src, dst, sport, dport, proto, outcome, orig_bytes, resp_bytes,
 * line, mark); counts: int64[6] (columns, no-header, missing-field, address, ipv6,
 * bad values). Parsing stops before a line starting with '#', at the end, or when cap rows
 * are written. Every buffer's size is checked before use: a bad call raises.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NCOL 10
#define OTHER 3

typedef struct {
    const int64_t *rows;
    Py_ssize_t n;
} table_t;

static int64_t lookup(const table_t *t, int64_t kind, const unsigned char *s, Py_ssize_t len,
                      int64_t dflt)
{
    if (len > 7 || len <= 0) return dflt;
    int64_t key = 0;
    for (Py_ssize_t i = 0; i < len; i++) key |= (int64_t)s[i] << (8 * i);
    for (Py_ssize_t r = 0; r < t->n; r++)
        if (t->rows[3 * r] == kind && t->rows[3 * r + 1] == key) return t->rows[3 * r + 2];
    return dflt;
}

/* kind: 0 IPv4, 1 IPv6, 2 bad, 3 unset ("-") */
static int address(const unsigned char *s, const unsigned char *e, int64_t *value)
{
    *value = 0;
    if (e - s == 1 && s[0] == '-') return 3;
    if (e - s > 7 && s[0] == ':' && s[1] == ':' && s[6] == ':' && (s[2] | 32) == 'f'
            && (s[3] | 32) == 'f' && (s[4] | 32) == 'f' && (s[5] | 32) == 'f') {
        s += 7;
    } else if (memchr(s, ':', (size_t)(e - s)) != NULL) {
        for (const unsigned char *p = s; p < e; p++) {
            unsigned char c = *p | 32;
            if (!((*p >= '0' && *p <= ':') || (c >= 'a' && c <= 'f') || *p == '.')) return 2;
        }
        return 1;
    }
    int64_t v = 0, octet = 0;
    int digits = 0, dots = 0;
    for (const unsigned char *p = s; p < e; p++) {
        unsigned char c = *p;
        if (c >= '0' && c <= '9') {
            if (digits > 0 && octet == 0) return 2;
            octet = octet * 10 + (c - '0');
            digits++;
            if (octet > 255) return 2;
        } else if (c == '.' && digits > 0 && dots < 3) {
            v = v * 256 + octet;
            dots++;
            octet = 0;
            digits = 0;
        } else {
            return 2;
        }
    }
    if (digits == 0 || dots != 3) return 2;
    *value = v * 256 + octet;
    return 0;
}

/* -1 unset, -2 bad */
static int64_t number(const unsigned char *s, const unsigned char *e, int64_t top)
{
    if (e - s == 1 && s[0] == '-') return -1;
    if (e <= s || e - s > 18) return -2;
    int64_t v = 0;
    for (const unsigned char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9') return -2;
        v = v * 10 + (*p - '0');
    }
    return v <= top ? v : -2;
}

static double when(const unsigned char *s, const unsigned char *e, int *good)
{
    *good = 1;
    if (e - s == 1 && s[0] == '-') return NAN;
    int64_t whole = 0, frac = 0, scale = 1;
    int dot = 0, digits = 0;
    for (const unsigned char *p = s; p < e; p++) {
        unsigned char c = *p;
        if (c >= '0' && c <= '9') {
            if (++digits > 19) { *good = 0; return NAN; }
            if (dot) { frac = frac * 10 + (c - '0'); scale *= 10; }
            else whole = whole * 10 + (c - '0');
        } else if (c == '.' && !dot) {
            dot = 1;
        } else {
            *good = 0;
            return NAN;
        }
    }
    if (digits == 0) { *good = 0; return NAN; }
    return (double)whole + (double)frac / (double)scale;
}

typedef struct {
    double t;
    int ok_kind, rk_kind;
    int64_t oh, rh, op, rp, ob, rb, proto, outcome, bad;
} row_t;

static void field(row_t *r, int64_t role, const unsigned char *s, const unsigned char *e,
                  const table_t *table)
{
    int good;
    int64_t v;
    switch (role) {
    case 0:
        r->t = when(s, e, &good);
        r->bad += !good;
        break;
    case 1: r->ok_kind = address(s, e, &r->oh); break;
    case 3: r->rk_kind = address(s, e, &r->rh); break;
    case 2: case 4: case 7: case 8:
        v = number(s, e, (role == 2 || role == 4) ? 65535 : 1000000000000000000LL);
        if (v == -2) { r->bad++; v = -1; }
        if (role == 2) r->op = v;
        else if (role == 4) r->rp = v;
        else if (role == 7) r->ob = v;
        else r->rb = v;
        break;
    case 5: r->proto = lookup(table, 0, s, e - s, 0); break;
    case 6: r->outcome = lookup(table, 1, s, e - s, OTHER); break;
    default: break;
    }
}

static int get_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize,
                      const char *name)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                               : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s: size is not a multiple of %zd", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *scan_tsv(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    Py_buffer v[7];
    static const char *names[7] = {"buf", "cfg", "roles", "table", "out_t", "out_i", "counts"};
    static const Py_ssize_t sizes[7] = {1, 8, 8, 8, 8, 8, 8};
    static const int writable[7] = {0, 0, 0, 0, 1, 1, 1};
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOO:scan_tsv", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6]))
        return NULL;
    int got = 0;
    for (; got < 7; got++)
        if (get_buffer(o[got], &v[got], writable[got], sizes[got], names[got]) < 0) break;
    PyObject *result = NULL;
    if (got < 7) goto done;
    const unsigned char *buf = v[0].buf;
    Py_ssize_t n = v[0].len;
    const int64_t *cfg = v[1].buf;
    const int64_t *roles = v[2].buf;
    Py_ssize_t nroles = v[2].len / 8;
    table_t table = {v[3].buf, v[3].len / 24};
    double *out_t = v[4].buf;
    int64_t *out_i = v[5].buf;
    int64_t *counts = v[6].buf;
    Py_ssize_t cap = v[4].len / 8;
    if (v[1].len < 40 || v[6].len < 48 || v[3].len % 24 != 0 || v[5].len / 8 < cap * NCOL
            || cfg[0] < 0 || cfg[0] > n || cfg[1] < 0 || cfg[1] > 255) {
        PyErr_SetString(PyExc_ValueError, "scan_tsv: inconsistent buffer sizes or start");
        goto done;
    }
    Py_ssize_t pos = (Py_ssize_t)cfg[0];
    unsigned char sep = (unsigned char)cfg[1];
    int64_t ncols = cfg[2], line = cfg[3], need = cfg[4];
    Py_ssize_t row = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos < n && row < cap) {
        if (buf[pos] == '#') break;
        line++;
        if (buf[pos] == '\n') { pos++; continue; }
        if (buf[pos] == '\r' && pos + 1 < n && buf[pos + 1] == '\n') { pos += 2; continue; }
        row_t r = {NAN, 3, 3, 0, 0, -1, -1, -1, -1, 0, OTHER, 0};
        const unsigned char *end = memchr(buf + pos, '\n', (size_t)(n - pos));
        const unsigned char *e_line = end ? end : buf + n;
        const unsigned char *s = buf + pos;
        int64_t k = 0;
        for (;;) {
            const unsigned char *e = memchr(s, sep, (size_t)(e_line - s));
            int last = (e == NULL);
            if (last) {
                e = e_line;
            }
            const unsigned char *fe = e;
            if (last && fe > s && fe[-1] == '\r') fe--;
            if (k < nroles && roles[k] >= 0) field(&r, roles[k], s, fe, &table);
            k++;
            if (last) break;
            s = e + 1;
        }
        pos = (e_line - buf) + 1;
        if (ncols == 0) counts[1]++;
        else if (k != ncols) counts[0]++;
        else if (need == 0 || r.ok_kind == 3 || r.rk_kind == 3) counts[2]++;
        else if (r.ok_kind == 1 || r.rk_kind == 1) counts[4]++;
        else if (r.ok_kind == 2 || r.rk_kind == 2) counts[3]++;
        else {
            counts[5] += r.bad;
            out_t[row] = r.t;
            int64_t *q = out_i + row * NCOL;
            q[0] = r.oh; q[1] = r.rh; q[2] = r.op; q[3] = r.rp; q[4] = r.proto;
            q[5] = r.outcome; q[6] = r.ob; q[7] = r.rb; q[8] = line; q[9] = 0;
            row++;
        }
    }
    Py_END_ALLOW_THREADS
    if (pos > n) pos = n + 1;
    result = Py_BuildValue("(nnL)", pos, row, (long long)line);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_tsv", scan_tsv, METH_VARARGS, "Zeek conn.log TSV rows into columns."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_connscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__connscan(void)
{
    return PyModule_Create(&module);
}
