/* Line plots as PNG through PLplot's pngcairo driver (API and conventions: gensweep/report/report.h).
 *
 * Headless: pngcairo draws into a cairo image surface and needs no display. Quiet: PLplot prints
 * nothing to stdout on this path; its error messages (plabort, plexit) go to handlers that keep
 * them for the gs_error instead of stderr.
 *
 * plexit, PLplot's fatal error path, would call exit(). Its handler (plsexit) longjmps back to
 * gs_plot_write instead; PLplot's state is unknown after that, so every later call fails at once
 * ("PLplot failed earlier"). The conditions that commonly lead there are checked first: the
 * pngcairo driver is installed (plgDevs) and the output file can be created (gs_atomic_begin
 * creates the empty <path>.tmp that PLplot then draws into).
 *
 * Log x axes are drawn by hand (world x = log10(x)): PLplot's own log axis would put minor ticks
 * and a "10^k" label on the stretch that stands for 0 (see gs_plot in report.h). */
#include "gensweep/report/report.h"
#include "gensweep/core/atomic.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <plplot.h>

/* ------------------------------------------------------------------ colours (cmap0 slots) */
enum { C_BG = 0, C_FG = 1, C_GRID = 2, C_LINE0 = 3, NCOLORS = 10, NSLOTS = 16 };

static const PLINT pal_r[NSLOTS] = {255, 0, 228, 31, 255, 44, 214, 148, 140, 227, 127, 188, 23, 0, 0, 0};
static const PLINT pal_g[NSLOTS] = {255, 0, 228, 119, 127, 160, 39, 103, 86, 119, 127, 189, 190, 0, 0, 0};
static const PLINT pal_b[NSLOTS] = {255, 0, 228, 180, 14, 44, 40, 189, 75, 194, 127, 34, 207, 0, 0, 0};

static PLINT line_color(int slot) { return C_LINE0 + (PLINT)((slot < 0 ? -slot : slot) % NCOLORS); }
/* PLplot line styles 1..8: 1 is solid; colours repeat with the next dash pattern */
static PLINT line_style(int slot) { return 1 + (PLINT)(((slot < 0 ? -slot : slot) / NCOLORS) % 8); }

/* ------------------------------------------------------------------ PLplot error capture */
static jmp_buf pl_jump;
static volatile int pl_armed;
static char pl_msg[512];
static int pl_dead;

static int pl_exit_handler(const char *msg) {
  snprintf(pl_msg, sizeof pl_msg, "%s", msg && *msg ? msg : "fatal error");
  if (pl_armed) {
    pl_armed = 0;
    longjmp(pl_jump, 1);
  }
  return 1;
}

static void pl_abort_handler(const char *msg) {
  if (!pl_msg[0]) snprintf(pl_msg, sizeof pl_msg, "%s", msg && *msg ? msg : "error");
}

static int have_pngcairo(void) {
  static int known = -1;
  if (known >= 0) return known;
  enum { MAXDEV = 128 };
  const char *menu[MAXDEV], *devs[MAXDEV];
  const char **m = menu, **d = devs;
  int nd = MAXDEV;
  plgDevs(&m, &d, &nd);
  known = 0;
  for (int i = 0; i < nd && i < MAXDEV; i++)
    if (d[i] && strcmp(d[i], "pngcairo") == 0) known = 1;
  return known;
}

/* PLplot text: '#' starts an escape sequence; a literal one is "##". */
static char *pl_escape(const char *s) {
  if (!s) s = "";
  size_t n = 0;
  for (const char *p = s; *p; p++) n += *p == '#' ? 2 : 1;
  char *o = gs_malloc(n + 1), *q = o;
  for (const char *p = s; *p; p++) {
    *q++ = *p;
    if (*p == '#') *q++ = '#';
  }
  *q = 0;
  return o;
}

/* ------------------------------------------------------------------ layout */
int gs_plot_want_logx(const double *x, int n) {
  int npos = 0;
  double lo = INFINITY, hi = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]) || x[i] < 0) return 0;
    if (x[i] > 0) {
      npos++;
      if (x[i] < lo) lo = x[i];
      if (x[i] > hi) hi = x[i];
    }
  }
  return npos >= 2 && hi / lo > 100.0;
}

typedef struct frame {
  gs_xscale scale;
  int has_zero;         /* LOG: some x == 0, drawn at u0 */
  double u0;            /* LOG: world x of 0 */
  double upos0, upos1;  /* LOG: world x of the smallest / largest positive x */
  double wx0, wx1, wy0, wy1;
  double vx0, vx1, vy0, vy1; /* viewport, normalised subpage coordinates */
  int W, H;
  int nleg;             /* legend entries (including a "+k more" line) */
  int nmore;            /* lines with a label that the legend leaves out */
  int maxlabel;         /* longest legend text, characters */
  double xtick;         /* LINEAR: major tick interval (0: PLplot's choice) */
  int nxsub;            /* LINEAR: minor ticks per interval (0: PLplot's choice) */
  double dodge;         /* world-x shift between neighbouring lines (0: none) */
} frame;

static int usable(const frame *f, double x, double y) {
  if (!isfinite(x) || !isfinite(y)) return 0;
  if (f->scale == GS_XSCALE_LOG) return x >= 0;
  return 1;
}

static double wx(const frame *f, double x) {
  if (f->scale != GS_XSCALE_LOG) return x;
  return x > 0 ? log10(x) : f->u0;
}

static size_t utf8_len(const char *s) {
  size_t n = 0;
  for (; s && *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static void layout(const gs_plot *p, frame *f) {
  memset(f, 0, sizeof *f);
  f->W = p->width > 0 ? p->width : 800;
  f->H = p->height > 0 ? p->height : 600;
  f->scale = p->xscale;
  if (f->scale == GS_XSCALE_CATEGORY && p->ncategories <= 0) f->scale = GS_XSCALE_LINEAR;
  if (f->scale == GS_XSCALE_LOG) { /* negative x or fewer than one positive x: linear after all */
    int npos = 0, neg = 0;
    for (int l = 0; l < p->nlines; l++)
      for (int i = 0; i < p->lines[l].n; i++) {
        double x = p->lines[l].x[i], y = p->lines[l].y[i];
        if (!isfinite(x) || !isfinite(y)) continue;
        if (x < 0) neg = 1;
        if (x > 0) npos++;
      }
    if (neg || npos == 0) f->scale = GS_XSCALE_LINEAR;
  }

  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY, minpos = INFINITY;
  int whole = 1;
  for (int l = 0; l < p->nlines; l++) {
    const gs_plot_line *ln = &p->lines[l];
    for (int i = 0; i < ln->n; i++) {
      double x = ln->x[i], y = ln->y[i];
      if (!usable(f, x, y)) continue;
      if (x < xlo) xlo = x;
      if (x > xhi) xhi = x;
      if (x > 0 && x < minpos) minpos = x;
      if (x == 0) f->has_zero = 1;
      if (x != floor(x)) whole = 0;
      double e = ln->err && isfinite(ln->err[i]) ? fabs(ln->err[i]) : 0;
      if (y - e < ylo) ylo = y - e;
      if (y + e > yhi) yhi = y + e;
    }
  }
  if (!(xlo <= xhi)) xlo = 0, xhi = 1;
  if (!(ylo <= yhi)) ylo = 0, yhi = 1;

  if (f->scale == GS_XSCALE_LOG) {
    f->upos0 = log10(minpos);
    f->upos1 = log10(xhi);
    f->u0 = floor(f->upos0) - 1;
    double left = f->has_zero ? f->u0 : f->upos0;
    double pad = 0.05 * (f->upos1 - left);
    if (pad < 0.2) pad = 0.2;
    f->wx0 = left - pad;
    f->wx1 = f->upos1 + pad;
  } else if (f->scale == GS_XSCALE_CATEGORY) {
    f->wx0 = -0.5;
    f->wx1 = p->ncategories - 0.5;
  } else if (xhi > xlo) {
    double pad = 0.04 * (xhi - xlo);
    f->wx0 = xlo - pad;
    f->wx1 = xhi + pad;
  } else {
    double pad = xlo != 0 ? 0.1 * fabs(xlo) : 1;
    f->wx0 = xlo - pad;
    f->wx1 = xhi + pad;
  }
  if (f->scale == GS_XSCALE_LINEAR && whole && xhi > xlo) { /* whole numbers: whole-number ticks */
    double raw = (xhi - xlo) / 6, p10 = pow(10, floor(log10(raw))), m = raw / p10;
    double step = (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p10;
    if (step <= 1) {
      step = 1;
      f->nxsub = 1;
    }
    f->xtick = step;
  }
  if (p->dodge) {
    int nl = 0;
    for (int l = 0; l < p->nlines; l++) nl += p->lines[l].n > 0;
    if (nl > 1) {
      double spread = f->scale == GS_XSCALE_CATEGORY ? 0.3 : 0.04 * (f->wx1 - f->wx0); /* all lines together */
      double step = spread / (nl - 1), cap = f->scale == GS_XSCALE_CATEGORY ? 0.06 : 0.012 * (f->wx1 - f->wx0);
      f->dodge = step < cap ? step : cap;
    }
  }
  if (yhi > ylo) {
    double pad = 0.06 * (yhi - ylo);
    f->wy0 = ylo - pad;
    f->wy1 = yhi + pad;
  } else {
    double pad = ylo != 0 ? 0.05 * fabs(ylo) : 1;
    f->wy0 = ylo - pad;
    f->wy1 = yhi + pad;
  }

  int cap = p->legend_max > 0 ? p->legend_max : GS_PLOT_LEGEND_MAX;
  if (cap < 2) cap = 2;
  int nlab = 0;
  for (int l = 0; l < p->nlines; l++)
    if (p->lines[l].label) nlab++;
  if (nlab > cap) {
    f->nleg = cap;
    f->nmore = nlab - (cap - 1);
  } else {
    f->nleg = nlab;
  }
  for (int l = 0, k = 0; l < p->nlines && k < f->nleg; l++) {
    if (!p->lines[l].label) continue;
    int len = (int)utf8_len(p->lines[l].label);
    if (len > f->maxlabel) f->maxlabel = len;
    k++;
  }
  if (f->nmore && f->maxlabel < 12) f->maxlabel = 12;

  /* viewport: room on the right for the legend (estimated from its longest text) */
  f->vx0 = 0.13;
  f->vy0 = 0.11;
  f->vy1 = 0.91;
  double legw = 0; /* about 8 px a character, plus the line sample, margins and frame */
  if (f->nleg > 0) {
    legw = (75.0 + 8.0 * f->maxlabel) / f->W;
    if (legw > 0.42) legw = 0.42;
  }
  f->vx1 = (f->nleg > 0 ? 0.98 : 0.96) - legw;
}

/* ------------------------------------------------------------------ drawing */
/* Draw without the viewport's clipping: the whole subpage as viewport, with a window that keeps
 * the plot's world coordinates where they were. */
static void unclip(const frame *f) {
  double sx = (f->wx1 - f->wx0) / (f->vx1 - f->vx0), sy = (f->wy1 - f->wy0) / (f->vy1 - f->vy0);
  plvpor(0, 1, 0, 1);
  plwind(f->wx0 - f->vx0 * sx, f->wx0 + (1 - f->vx0) * sx, f->wy0 - f->vy0 * sy, f->wy0 + (1 - f->vy0) * sy);
}

static void reclip(const frame *f) {
  plvpor(f->vx0, f->vx1, f->vy0, f->vy1);
  plwind(f->wx0, f->wx1, f->wy0, f->wy1);
}

static double vpos(const frame *f, double u) { return (u - f->wx0) / (f->wx1 - f->wx0); }

static void xtick(const frame *f, double u, double frac) {
  double t = frac * (f->wy1 - f->wy0);
  pljoin(u, f->wy0, u, f->wy0 + t);
  pljoin(u, f->wy1, u, f->wy1 - t);
}

/* x axis of LOG and CATEGORY plots; grid = 1: only the vertical grid lines */
static void manual_xaxis(const gs_plot *p, const frame *f, int grid) {
  if (f->scale == GS_XSCALE_CATEGORY) {
    for (int i = 0; i < p->ncategories; i++) {
      if (grid) {
        pljoin(i, f->wy0, i, f->wy1);
        continue;
      }
      xtick(f, i, 0.015);
      char *t = pl_escape(p->categories[i]);
      plmtex("b", 1.6, vpos(f, i), 0.5, t);
      free(t);
    }
    return;
  }
  /* LOG: decades (every `step`-th when there are many), minor ticks at 2..9 x 10^k */
  double lo = f->has_zero ? f->u0 + 1 : f->wx0;
  int k0 = (int)ceil(lo - 1e-9), k1 = (int)floor(f->wx1 + 1e-9);
  int span = k1 - k0, step = span > 8 ? (span + 7) / 8 : 1;
  for (int k = k0; k <= k1; k++) {
    if (!grid && step == 1)
      for (int j = 2; j <= 9; j++) {
        double u = k + log10((double)j);
        if (u > f->wx0 && u < f->wx1 && (!f->has_zero || u > f->u0 + 1)) xtick(f, u, 0.008);
      }
    if ((k - k0) % step) continue;
    if (grid) {
      pljoin(k, f->wy0, k, f->wy1);
      continue;
    }
    xtick(f, k, 0.015);
    char t[48];
    if (k == 0) snprintf(t, sizeof t, "1");
    else if (k == 1) snprintf(t, sizeof t, "10");
    else snprintf(t, sizeof t, "10#u%d#d", k);
    plmtex("b", 1.8, vpos(f, k), 0.5, t);
  }
  /* the lower decades that hold no positive value: the minor ticks just below k0 */
  if (!grid && step == 1)
    for (int j = 2; j <= 9; j++) {
      double u = k0 - 1 + log10((double)j);
      if (u > f->wx0 && (!f->has_zero || u > f->u0 + 1)) xtick(f, u, 0.008);
    }
  if (!f->has_zero) return;
  if (grid) {
    pljoin(f->u0, f->wy0, f->u0, f->wy1);
    return;
  }
  xtick(f, f->u0, 0.015);
  plmtex("b", 1.8, vpos(f, f->u0), 0.5, "0");
  /* axis break half-way between 0 and the first decade: a gap in both frame lines, then // */
  double ub = f->u0 + 0.5, dx = 0.008 * (f->wx1 - f->wx0), dy = 0.018 * (f->wy1 - f->wy0);
  unclip(f);
  plcol0(C_BG);
  plwidth(4);
  pljoin(ub - dx, f->wy0, ub + dx, f->wy0);
  pljoin(ub - dx, f->wy1, ub + dx, f->wy1);
  plcol0(C_FG);
  plwidth(1);
  for (int s = -1; s <= 1; s += 2) {
    double c = ub + s * dx;
    pljoin(c - dx * 0.8, f->wy0 - dy, c + dx * 0.8, f->wy0 + dy);
    pljoin(c - dx * 0.8, f->wy1 - dy, c + dx * 0.8, f->wy1 + dy);
  }
  reclip(f);
}

static void draw_line(const frame *f, const gs_plot_line *ln, double shift, double *ux, double *uy) {
  int m = 0;
  for (int i = 0; i < ln->n; i++) {
    if (!usable(f, ln->x[i], ln->y[i])) continue;
    ux[m] = wx(f, ln->x[i]) + shift;
    uy[m] = ln->y[i];
    m++;
  }
  if (m == 0) return;
  PLINT col = line_color(ln->color), sty = line_style(ln->color);
  plcol0(col);
  /* error bars first, so that the line and the markers lie on top */
  if (ln->err) {
    double *lo = gs_malloc(sizeof(double) * (size_t)m), *hi = gs_malloc(sizeof(double) * (size_t)m);
    double *ex = gs_malloc(sizeof(double) * (size_t)m);
    int k = 0;
    for (int i = 0, j = 0; i < ln->n; i++) {
      if (!usable(f, ln->x[i], ln->y[i])) continue;
      double e = ln->err[i];
      if (isfinite(e) && e > 0) {
        ex[k] = ux[j];
        lo[k] = ln->y[i] - e;
        hi[k] = ln->y[i] + e;
        k++;
      }
      j++;
    }
    plwidth(1.2);
    pllsty(1);
    if (k) plerry(k, ex, lo, hi);
    free(lo);
    free(hi);
    free(ex);
  }
  plwidth(ln->marker ? 2.0 : 1.5);
  if (f->scale == GS_XSCALE_LOG && f->has_zero) {
    /* segments that touch the point at 0 are dashed: the distance to it means nothing */
    for (int i = 0; i + 1 < m; i++) {
      double z0 = f->u0 + shift; /* positive x lie at least a decade to the right */
      int z = fabs(ux[i] - z0) < 0.5 || fabs(ux[i + 1] - z0) < 0.5;
      pllsty(z ? 3 : sty);
      pljoin(ux[i], uy[i], ux[i + 1], uy[i + 1]);
    }
  } else if (m > 1) {
    pllsty(sty);
    plline(m, ux, uy);
  }
  pllsty(1);
  if (ln->marker || m == 1) {
    plschr(0, ln->marker ? 0.8 : 0.55);
    plstring(m, ux, uy, "●");
    plschr(0, 0.9);
  }
}

/* Draws the legend at the top right of the subpage, its top level with the plot's; returns its
 * width as a fraction of the subpage width. */
static double draw_legend(const gs_plot *p, const frame *f, double text_scale) {
  int n = f->nleg;
  PLINT *opt = gs_calloc((size_t)n, sizeof *opt), *tcol = gs_calloc((size_t)n, sizeof *tcol);
  PLINT *lcol = gs_calloc((size_t)n, sizeof *lcol), *lsty = gs_calloc((size_t)n, sizeof *lsty);
  PLINT *bcol = gs_calloc((size_t)n, sizeof *bcol), *bpat = gs_calloc((size_t)n, sizeof *bpat);
  PLINT *scol = gs_calloc((size_t)n, sizeof *scol), *snum = gs_calloc((size_t)n, sizeof *snum);
  PLFLT *lwid = gs_calloc((size_t)n, sizeof *lwid), *bsc = gs_calloc((size_t)n, sizeof *bsc);
  PLFLT *bwid = gs_calloc((size_t)n, sizeof *bwid), *ssc = gs_calloc((size_t)n, sizeof *ssc);
  char **text = gs_calloc((size_t)n, sizeof *text);
  const char **sym = gs_calloc((size_t)n, sizeof *sym);
  int shown = f->nmore ? n - 1 : n;
  int k = 0;
  for (int l = 0; l < p->nlines && k < shown; l++) {
    const gs_plot_line *ln = &p->lines[l];
    if (!ln->label) continue;
    opt[k] = PL_LEGEND_LINE | (ln->marker ? PL_LEGEND_SYMBOL : 0);
    text[k] = pl_escape(ln->label);
    lcol[k] = scol[k] = line_color(ln->color);
    lsty[k] = line_style(ln->color);
    lwid[k] = ln->marker ? 2.0 : 1.5;
    ssc[k] = 0.9;
    snum[k] = 1;
    k++;
  }
  if (f->nmore) {
    char t[64];
    snprintf(t, sizeof t, "… +%d more", f->nmore);
    opt[k] = PL_LEGEND_NONE;
    text[k] = gs_strdup(t);
    k++;
  }
  for (int i = 0; i < k; i++) {
    tcol[i] = C_FG;
    bsc[i] = 1;
    bwid[i] = 1;
    if (!sym[i]) sym[i] = "●";
  }
  PLFLT lw = 0, lh = 0;
  plwidth(1);
  pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_RIGHT | PL_POSITION_TOP | PL_POSITION_INSIDE | PL_POSITION_SUBPAGE, 0.01, 1 - f->vy1,
           40.0 / f->W, C_BG, C_FG, 1, k, 1, k, opt, 0.7, text_scale, 2.0, 0.0, tcol, (const char *const *)text, bcol,
           bpat, bsc, bwid, lcol, lsty, lwid, scol, ssc, snum, sym);
  for (int i = 0; i < k; i++) free(text[i]);
  free(text);
  free(sym);
  free(opt);
  free(tcol);
  free(lcol);
  free(lsty);
  free(bcol);
  free(bpat);
  free(scol);
  free(snum);
  free(lwid);
  free(bsc);
  free(bwid);
  free(ssc);
  return lw;
}

static void draw(const gs_plot *p, const frame *fin, const char *file) {
  frame fr = *fin, *f = &fr;
  plsdev("pngcairo");
  plsfnam(file);
  plspage(0, 0, f->W, f->H, 0, 0);
  plscmap0(pal_r, pal_g, pal_b, NSLOTS);
  plinit();
  pladv(0);
  plschr(0, 0.9);
  double legscale = 0.8;
  if (f->nleg > 0) {
    /* measure the legend (text widths come from cairo) and clear the page again; a legend wider
     * than about a third of the page is drawn with smaller text; then make room for it */
    plvpor(f->vx0, f->vx1, f->vy0, f->vy1);
    plwind(0, 1, 0, 1);
    double lw = draw_legend(p, f, legscale);
    plclear();
    if (lw > 0.34) {
      legscale *= 0.34 / lw;
      if (legscale < 0.55) legscale = 0.55;
      lw = draw_legend(p, f, legscale);
      plclear();
    }
    if (lw > 0 && lw < 0.6) f->vx1 = 0.99 - lw - 0.025;
  }
  plvpor(f->vx0, f->vx1, f->vy0, f->vy1);
  plwind(f->wx0, f->wx1, f->wy0, f->wy1);
  int linear = f->scale == GS_XSCALE_LINEAR;

  plcol0(C_GRID);
  plwidth(1);
  plbox(linear ? "g" : "", f->xtick, f->nxsub, "g", 0, 0);
  if (!linear) manual_xaxis(p, f, 1);

  size_t maxn = 1;
  for (int l = 0; l < p->nlines; l++)
    if ((size_t)p->lines[l].n > maxn) maxn = (size_t)p->lines[l].n;
  double *ux = gs_malloc(sizeof(double) * maxn), *uy = gs_malloc(sizeof(double) * maxn);
  int nl = 0;
  for (int l = 0; l < p->nlines; l++) nl += p->lines[l].n > 0;
  for (int l = 0, k = 0; l < p->nlines; l++) {
    if (p->lines[l].n <= 0) continue;
    draw_line(f, &p->lines[l], f->dodge * (k - (nl - 1) / 2.0), ux, uy);
    k++;
  }
  free(ux);
  free(uy);

  plcol0(C_FG);
  plwidth(1);
  pllsty(1);
  plbox(linear ? "bcnst" : "bc", f->xtick, f->nxsub, "bcnstv", 0, 0);
  if (!linear) manual_xaxis(p, f, 0);
  char *t = pl_escape(p->title), *xl = pl_escape(p->xlabel), *yl = pl_escape(p->ylabel);
  plmtex("t", 1.6, 0.5, 0.5, t);
  plmtex("b", linear ? 3.2 : 3.6, 0.5, 0.5, xl);
  plmtex("l", 5.0, 0.5, 0.5, yl);
  free(t);
  free(xl);
  free(yl);
  if (f->nleg > 0) draw_legend(p, f, legscale);
  plend();
}

int gs_plot_write(const char *path, const gs_plot *p, gs_error *err) {
  if (pl_dead) return gs_fail(err, "%s: cannot draw: PLplot failed earlier in this process (%s)", path, pl_msg);
  if (!have_pngcairo())
    return gs_fail(err, "%s: cannot draw: PLplot's pngcairo driver is not installed "
                        "(Debian: apt-get install plplot-driver-cairo)", path);
  for (int l = 0; l < p->nlines; l++)
    if (p->lines[l].n < 0 || (p->lines[l].n > 0 && (!p->lines[l].x || !p->lines[l].y)))
      return gs_fail(err, "%s: plot line %d has no data", path, l);
  frame f;
  layout(p, &f);

  gs_atomic a; /* PLplot draws into a.tmp by name */
  if (gs_atomic_begin(&a, path, err) != 0) return -1;

  pl_msg[0] = 0;
  plsexit(pl_exit_handler);
  plsabort(pl_abort_handler);
  int rc = 0;
  if (setjmp(pl_jump) == 0) {
    pl_armed = 1;
    draw(p, &f, a.tmp);
    pl_armed = 0;
  } else {
    pl_dead = 1;
    rc = gs_fail(err, "%s: PLplot: %s", path, pl_msg);
  }
  if (rc == 0 && pl_msg[0]) rc = gs_fail(err, "%s: PLplot: %s", path, pl_msg);
  struct stat st;
  if (rc == 0 && (stat(a.tmp, &st) != 0 || st.st_size == 0))
    rc = gs_fail(err, "%s: PLplot wrote no image (%s is missing or empty)", path, a.tmp);
  if (rc == 0) rc = gs_atomic_commit(&a, err); /* removes the temporary file if it fails */
  else gs_atomic_abort(&a);
  return rc;
}
