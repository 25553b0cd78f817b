/*
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
#include <string.h>

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

static PyObject *validate(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int prefix_tokens;
    Py_ssize_t max_bad;
    if (!PyArg_ParseTuple(args, "y*in", &view, &prefix_tokens, &max_bad)) return NULL;
    const unsigned char *p = (const unsigned char *)view.buf;
    const unsigned char *end = p + view.len;
    Py_ssize_t lines = 0, bad = 0;
    PyObject *bad_list = PyList_New(0);
    if (bad_list == NULL) { PyBuffer_Release(&view); return NULL; }
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
                if (n == NULL || PyList_Append(bad_list, n) < 0) {
                    Py_XDECREF(n); Py_DECREF(bad_list); PyBuffer_Release(&view); return NULL;
                }
                Py_DECREF(n);
            }
        }
        if (nl == NULL) break;
        p = nl + 1;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("nnN", lines, bad, bad_list);
}

static PyMethodDef methods[] = {
    {"validate", validate, METH_VARARGS,
     "validate(buf, prefix_tokens, max_bad) -> (lines, bad, first_bad_line_numbers)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_clfscan", "Fast access-log line validation.", -1, methods,
    NULL, NULL, NULL, NULL
};

/* RULES: the version of the line rules above; clf.py uses this module only when it matches
 * (a stale build would disagree with the Python twin). 2: the client token is checked. */
PyMODINIT_FUNC PyInit__clfscan(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "RULES", 2) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
