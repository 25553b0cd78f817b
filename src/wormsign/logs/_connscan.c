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


/* ---- packet captures: twins of wormsign/logs/pcapconn.py's numba kernels --------------
 *
 * frame(buf, pos, ng, hdr, ifaces, ifres, out, out_t, state) -> pos
 *   The packets of a pcap (ng 0; hdr int64[3] = big-endian, nanoseconds, link type) or
 *   pcapng (ng 1; ifaces int64[64] link types and ifres float64[64] time units, filled as
 *   interface blocks come) from pos while whole records remain; -1 at a record header that
 *   cannot be true. Each kept packet is a row of out (int64[cap][11]: src, dst, sport, dport,
 *   proto, flags, seq, payload length, kind, ICMP type, packet number) and out_t. state:
 *   int64[7] = rows kept, packets, IPv6, undecodable, corrupt, pcapng big-endian, interfaces.
 * flows(pk, ts, order, starts, out, out_t) -> rows
 *   The attempts of the packets taken in order (flows grouped, starts marking each flow's
 *   first packet) as rows of out (int64[n][10]) and out_t.
 */
#define PCOLS 11
#define MAX_RECORD (256 << 10)
enum { P_SRC, P_DST, P_SPORT, P_DPORT, P_PROTO, P_FLAGS, P_SEQ, P_PLEN, P_KIND, P_ICMP, P_NUM };
enum { K_NONE, K_PKT, K_UNREACH, K_IPV6, K_BAD };
enum { S_ROWS, S_PACKETS, S_IPV6, S_BAD, S_CORRUPT, S_BIG, S_IFACES };
enum { ESTABLISHED_, REFUSED_, UNANSWERED_, OTHER_ };

static inline int64_t u16(const unsigned char *b, Py_ssize_t i)
{
    return ((int64_t)b[i] << 8) | b[i + 1];
}

static inline int64_t u16e(const unsigned char *b, Py_ssize_t i, int big)
{
    return big ? u16(b, i) : (((int64_t)b[i + 1] << 8) | b[i]);
}

static inline int64_t u32(const unsigned char *b, Py_ssize_t i, int big)
{
    if (big)
        return ((int64_t)b[i] << 24) | ((int64_t)b[i + 1] << 16) | ((int64_t)b[i + 2] << 8)
               | b[i + 3];
    return ((int64_t)b[i + 3] << 24) | ((int64_t)b[i + 2] << 16) | ((int64_t)b[i + 1] << 8)
           | b[i];
}

static int l3(const unsigned char *b, Py_ssize_t off, Py_ssize_t end, int64_t link,
              Py_ssize_t *ip)
{
    *ip = 0;
    if (link == 1) {
        Py_ssize_t p = off + 12;
        for (int k = 0; k < 3; k++) {
            if (p + 2 > end) return 0;
            int64_t et = u16(b, p);
            if (et == 0x8100 || et == 0x88A8 || et == 0x9100) { p += 4; continue; }
            *ip = p + 2;
            return et == 0x0800 ? 4 : et == 0x86DD ? 6 : 0;
        }
        return 0;
    }
    if (link == 113 || link == 276) {
        Py_ssize_t p = link == 113 ? off + 14 : off;
        if (p + 2 > end) return 0;
        int64_t et = u16(b, p);
        *ip = link == 113 ? off + 16 : off + 20;
        return et == 0x0800 ? 4 : et == 0x86DD ? 6 : 0;
    }
    if (link == 0 || link == 108) {
        if (off + 4 > end) return 0;
        int64_t fam = u32(b, off, link == 108);
        if (fam > 0xFFFFFF) fam = u32(b, off, 1);
        *ip = off + 4;
        return fam == 2 ? 4 : (fam == 24 || fam == 28 || fam == 30) ? 6 : 0;
    }
    if (link == 12 || link == 14 || link == 101 || link == 228 || link == 229) {
        if (off >= end) return 0;
        int v = b[off] >> 4;
        *ip = off;
        return (v == 4 || v == 6) ? v : 0;
    }
    return 0;
}

static int decode(const unsigned char *b, Py_ssize_t off, Py_ssize_t caplen, int64_t link,
                  int64_t *row)
{
    Py_ssize_t end = off + caplen, ip;
    int ver = l3(b, off, end, link, &ip);
    if (ver == 6) return K_IPV6;
    if (ver != 4) return K_NONE;
    if (ip + 20 > end || (b[ip] >> 4) != 4) return K_BAD;
    int64_t ihl = (b[ip] & 15) * 4, total = u16(b, ip + 2);
    if (ihl < 20 || ip + ihl > end) return K_BAD;
    if (u16(b, ip + 6) & 0x1FFF) return K_NONE;
    if (total < ihl) total = end - ip;
    int64_t proto = b[ip + 9];
    row[P_SRC] = u32(b, ip + 12, 1);
    row[P_DST] = u32(b, ip + 16, 1);
    row[P_PROTO] = proto;
    row[P_FLAGS] = row[P_SEQ] = row[P_PLEN] = row[P_SPORT] = row[P_DPORT] = 0;
    row[P_ICMP] = -1;
    Py_ssize_t t = ip + ihl;
    if (proto == 6) {
        if (t + 14 > end) return K_BAD;
        row[P_SPORT] = u16(b, t);
        row[P_DPORT] = u16(b, t + 2);
        row[P_SEQ] = u32(b, t + 4, 1);
        row[P_FLAGS] = b[t + 13];
        int64_t plen = total - ihl - (b[t + 12] >> 4) * 4;
        row[P_PLEN] = plen > 0 ? plen : 0;
        return K_PKT;
    }
    if (proto == 17) {
        if (t + 4 > end) return K_BAD;
        row[P_SPORT] = u16(b, t);
        row[P_DPORT] = u16(b, t + 2);
        row[P_PLEN] = total - ihl - 8 > 0 ? total - ihl - 8 : 0;
        return K_PKT;
    }
    if (proto == 1) {
        if (t + 2 > end) return K_BAD;
        int typ = b[t];
        row[P_ICMP] = typ;
        if (typ == 3) {
            Py_ssize_t q = t + 8;
            if (q + 20 > end || (b[q] >> 4) != 4) return K_BAD;
            Py_ssize_t qhl = (b[q] & 15) * 4;
            int64_t qproto = b[q + 9];
            row[P_SRC] = u32(b, q + 12, 1);
            row[P_DST] = u32(b, q + 16, 1);
            row[P_PROTO] = qproto;
            if (qproto == 6 || qproto == 17) {
                if (q + qhl + 4 > end) return K_BAD;
                row[P_SPORT] = u16(b, q + qhl);
                row[P_DPORT] = u16(b, q + qhl + 2);
            }
            return K_UNREACH;
        }
        if (typ == 0 || typ == 8) {
            row[P_PLEN] = total - ihl - 8 > 0 ? total - ihl - 8 : 0;
            return K_PKT;
        }
        return K_NONE;
    }
    return K_NONE;
}

static void keep(const unsigned char *b, Py_ssize_t off, Py_ssize_t caplen, int64_t link,
                 double ts, int64_t *out, double *out_t, int64_t *state)
{
    int64_t n = state[S_ROWS];
    state[S_PACKETS]++;
    int64_t *row = out + n * PCOLS;
    int kind = decode(b, off, caplen, link, row);
    if (kind == K_IPV6) state[S_IPV6]++;
    else if (kind == K_BAD) state[S_BAD]++;
    else if (kind != K_NONE) {
        row[P_KIND] = kind;
        row[P_NUM] = state[S_PACKETS];
        out_t[n] = ts;
        state[S_ROWS] = n + 1;
    }
}

static Py_ssize_t frame_pcap(const unsigned char *b, Py_ssize_t n, Py_ssize_t pos,
                             const int64_t *hdr, int64_t *out, double *out_t, Py_ssize_t cap,
                             int64_t *state)
{
    int big = hdr[0] == 1, nano = hdr[1] == 1;
    while (pos + 16 <= n && state[S_ROWS] < cap) {
        int64_t incl = u32(b, pos + 8, big);
        if (incl > MAX_RECORD) { state[S_CORRUPT]++; return -1; }
        if (pos + 16 + incl > n) break;
        double ts = (double)u32(b, pos, big) + (double)u32(b, pos + 4, big) * (nano ? 1e-9 : 1e-6);
        keep(b, pos + 16, incl, hdr[2], ts, out, out_t, state);
        pos += 16 + incl;
    }
    return pos;
}

static void interface(const unsigned char *b, Py_ssize_t pos, Py_ssize_t blen, int64_t *ifaces,
                      double *ifres, Py_ssize_t nif, int64_t *state)
{
    int big = state[S_BIG] == 1;
    int64_t k = state[S_IFACES];
    if (k >= nif) return;
    ifaces[k] = u16e(b, pos + 8, big);
    ifres[k] = 1e-6;
    Py_ssize_t p = pos + 16;
    while (p + 4 <= pos + blen - 4) {
        int64_t code = u16e(b, p, big), olen = u16e(b, p + 2, big);
        if (code == 0) break;
        if (code == 9 && olen == 1 && p + 5 <= pos + blen) {
            int v = b[p + 4];
            ifres[k] = (v & 0x80) ? pow(2.0, -(double)(v & 0x7F)) : pow(10.0, -(double)v);
        }
        p += 4 + ((olen + 3) / 4) * 4;
    }
    state[S_IFACES] = k + 1;
}

static Py_ssize_t frame_pcapng(const unsigned char *b, Py_ssize_t n, Py_ssize_t pos,
                               int64_t *ifaces, double *ifres, Py_ssize_t nif, int64_t *out,
                               double *out_t, Py_ssize_t cap, int64_t *state)
{
    while (pos + 12 <= n && state[S_ROWS] < cap) {
        int64_t btype = u32(b, pos, state[S_BIG] == 1);
        if (btype == 0x0A0D0D0A) {
            int64_t bom = u32(b, pos + 8, 1);
            if (bom != 0x1A2B3C4D && bom != 0x4D3C2B1A) { state[S_CORRUPT]++; return -1; }
            state[S_BIG] = bom == 0x1A2B3C4D;
            state[S_IFACES] = 0;
        }
        int big = state[S_BIG] == 1;
        int64_t blen = u32(b, pos + 4, big);
        if (blen < 12 || blen % 4 != 0 || blen > MAX_RECORD + 4096) {
            state[S_CORRUPT]++;
            return -1;
        }
        if (pos + blen > n) break;
        if (btype == 1) {
            interface(b, pos, blen, ifaces, ifres, nif, state);
        } else if ((btype == 6 || btype == 2) && blen < 32) {
            state[S_PACKETS]++;
            state[S_BAD]++;
        } else if (btype == 6 || btype == 2) {
            int64_t iface = btype == 6 ? u32(b, pos + 8, big) : u16e(b, pos + 8, big);
            int64_t caplen = u32(b, pos + 20, big);
            if (iface >= state[S_IFACES] || caplen > blen - 32) {
                state[S_PACKETS]++;
                state[S_BAD]++;
            } else {
                int64_t stamp = (u32(b, pos + 12, big) << 32) | u32(b, pos + 16, big);
                keep(b, pos + 28, caplen, ifaces[iface], (double)stamp * ifres[iface], out,
                     out_t, state);
            }
        } else if (btype == 3) {
            if (state[S_IFACES] == 0 || blen < 16) {
                state[S_PACKETS]++;
                state[S_BAD]++;
            } else {
                int64_t caplen = u32(b, pos + 8, big);
                if (caplen > blen - 16) caplen = blen - 16;
                keep(b, pos + 12, caplen, ifaces[0], NAN, out, out_t, state);
            }
        }
        pos += blen;
    }
    return pos;
}

static PyObject *frame(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    Py_buffer v[7];
    Py_ssize_t pos;
    int ng;
    static const char *names[7] = {"buf", "hdr", "ifaces", "ifres", "out", "out_t", "state"};
    static const Py_ssize_t sizes[7] = {1, 8, 8, 8, 8, 8, 8};
    static const int writable[7] = {0, 0, 1, 1, 1, 1, 1};
    (void)self;
    if (!PyArg_ParseTuple(args, "OnpOOOOOO:frame", &o[0], &pos, &ng, &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6]))
        return NULL;
    int got = 0;
    for (; got < 7; got++)
        if (get_buffer(o[got], &v[got], writable[got], sizes[got], names[got]) < 0) break;
    PyObject *result = NULL;
    if (got < 7) goto done;
    Py_ssize_t n = v[0].len, cap = v[5].len / 8, nif = v[2].len / 8;
    if (v[1].len < 24 || v[6].len < 56 || v[3].len / 8 != nif || v[4].len / 8 < cap * PCOLS
            || pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "frame: inconsistent buffer sizes or start");
        goto done;
    }
    int64_t *state = v[6].buf;
    if (state[S_ROWS] < 0 || state[S_ROWS] > cap || state[S_IFACES] < 0
            || state[S_IFACES] > nif) {
        PyErr_SetString(PyExc_ValueError, "frame: inconsistent state");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    pos = ng ? frame_pcapng(v[0].buf, n, pos, v[2].buf, v[3].buf, nif, v[4].buf, v[5].buf, cap,
                            state)
             : frame_pcap(v[0].buf, n, pos, v[1].buf, v[4].buf, v[5].buf, cap, state);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(pos);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

#define TCP_RETRY 30.0
#define UDP_IDLE 60.0
enum { I_SRC, I_DST, I_SP, I_DP, I_PROTO, I_OUT, I_OB, I_RB, I_LINE, I_MARK };

static void open_attempt(const int64_t *p, int flip, int64_t outcome, int64_t *att)
{
    int64_t a = p[P_SRC], b = p[P_DST], pa = p[P_SPORT], pb = p[P_DPORT];
    if (flip) { int64_t x = a; a = b; b = x; x = pa; pa = pb; pb = x; }
    att[I_SRC] = a; att[I_DST] = b; att[I_SP] = pa; att[I_DP] = pb;
    att[I_PROTO] = p[P_PROTO]; att[I_OUT] = outcome; att[I_OB] = 0; att[I_RB] = 0;
    att[I_LINE] = p[P_NUM]; att[I_MARK] = 0;
    if (p[P_PROTO] == 1) { att[I_SP] = 8; att[I_DP] = 0; }
}

static void answer(const int64_t *p, int64_t *att)
{
    int from_orig = p[P_SRC] == att[I_SRC] && (p[P_SPORT] == att[I_SP] || p[P_PROTO] == 1);
    if (from_orig) { att[I_OB] += p[P_PLEN]; return; }
    att[I_RB] += p[P_PLEN];
    if (att[I_OUT] != UNANSWERED_) return;
    if (p[P_PROTO] != 6) {
        if (p[P_PROTO] == 17 || p[P_ICMP] == 0) att[I_OUT] = ESTABLISHED_;
    } else if ((p[P_FLAGS] & 0x02) && (p[P_FLAGS] & 0x10)) {
        att[I_OUT] = ESTABLISHED_;
    } else if (p[P_FLAGS] & 0x04) {
        att[I_OUT] = REFUSED_;
    }
}

static Py_ssize_t close_attempt(const int64_t *att, double att_t, int64_t *out, double *out_t,
                                Py_ssize_t k)
{
    memcpy(out + k * NCOL, att, NCOL * sizeof(int64_t));
    out_t[k] = att_t;
    return k + 1;
}

static Py_ssize_t flows_impl(const int64_t *pk, const double *ts, const int64_t *order,
                             const unsigned char *starts, Py_ssize_t m, int64_t *out,
                             double *out_t)
{
    int64_t att[NCOL] = {0};
    double att_t = 0.0, last_t = 0.0;
    int live = 0;
    Py_ssize_t k = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        const int64_t *p = pk + order[j] * PCOLS;
        double t = ts[order[j]];
        if (starts[j] && live) { k = close_attempt(att, att_t, out, out_t, k); live = 0; }
        if (p[P_KIND] == K_UNREACH) {
            if (live && att[I_OUT] == UNANSWERED_ && p[P_SRC] == att[I_SRC]
                    && (p[P_SPORT] == att[I_SP] || p[P_PROTO] == 1))
                att[I_OUT] = REFUSED_;
            continue;
        }
        int64_t proto = p[P_PROTO], fl = p[P_FLAGS];
        if (proto == 6 && (fl & 0x02) && !(fl & 0x10)) {
            int retry = live && att[I_OUT] == UNANSWERED_ && p[P_SRC] == att[I_SRC]
                        && p[P_SPORT] == att[I_SP] && !(t - att_t > TCP_RETRY);
            if (!retry) {
                if (live) k = close_attempt(att, att_t, out, out_t, k);
                open_attempt(p, 0, UNANSWERED_, att);
                att_t = t;
                live = 1;
                if (p[P_SEQ] == p[P_DST]) att[I_MARK] = 1;
            }
            att[I_OB] += p[P_PLEN];
            continue;
        }
        if (live && proto != 6 && t - last_t > UDP_IDLE) {
            k = close_attempt(att, att_t, out, out_t, k);
            live = 0;
        }
        last_t = t;
        if (!live) {
            if (proto == 6)
                open_attempt(p, (fl & 0x02) && (fl & 0x10), OTHER_, att);
            else if (proto == 1)
                open_attempt(p, p[P_ICMP] == 0, p[P_ICMP] == 8 ? UNANSWERED_ : OTHER_, att);
            else
                open_attempt(p, 0, UNANSWERED_, att);
            att_t = t;
            live = 1;
            if (proto == 6 || p[P_ICMP] == 0) answer(p, att);
            else att[I_OB] += p[P_PLEN];
            continue;
        }
        answer(p, att);
    }
    if (live) k = close_attempt(att, att_t, out, out_t, k);
    return k;
}

static PyObject *flows(PyObject *self, PyObject *args)
{
    PyObject *o[6];
    Py_buffer v[6];
    static const char *names[6] = {"pk", "ts", "order", "starts", "out", "out_t"};
    static const Py_ssize_t sizes[6] = {8, 8, 8, 1, 8, 8};
    static const int writable[6] = {0, 0, 0, 0, 1, 1};
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOO:flows", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]))
        return NULL;
    int got = 0;
    for (; got < 6; got++)
        if (get_buffer(o[got], &v[got], writable[got], sizes[got], names[got]) < 0) break;
    PyObject *result = NULL;
    if (got < 6) goto done;
    Py_ssize_t npk = v[1].len / 8, m = v[2].len / 8;
    if (v[0].len / 8 != npk * PCOLS || v[3].len != m || v[4].len / 8 < m * NCOL
            || v[5].len / 8 < m) {
        PyErr_SetString(PyExc_ValueError, "flows: inconsistent buffer sizes");
        goto done;
    }
    const int64_t *order = v[2].buf;
    for (Py_ssize_t j = 0; j < m; j++)
        if (order[j] < 0 || order[j] >= npk) {
            PyErr_SetString(PyExc_ValueError, "flows: an index out of range");
            goto done;
        }
    Py_ssize_t k;
    Py_BEGIN_ALLOW_THREADS
    k = flows_impl(v[0].buf, v[1].buf, order, v[3].buf, m, v[4].buf, v[5].buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(k);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_tsv", scan_tsv, METH_VARARGS, "Zeek conn.log TSV rows into columns."},
    {"frame", frame, METH_VARARGS, "Packets of a pcap or pcapng into header columns."},
    {"flows", flows, METH_VARARGS, "Connection attempts of packets grouped by flow."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_connscan", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__connscan(void)
{
    return PyModule_Create(&module);
}
