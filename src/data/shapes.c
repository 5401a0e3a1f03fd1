/* Labelled synthetic shapes: the generator of data/shapes.h (classes, sampling and normalisation
 * are described there). */
/* Contraction off: a fused multiply-add rounds once where a multiply then an add rounds twice, so
 * whether the compiler fuses (it does with -march=native on an FMA machine) would change a
 * cloud's bits between builds. The cost is a few percent of the generator's time. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "gensweep/data/shapes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"

enum { SPHERE, CUBE, CYLINDER, CONE, TORUS, PYRAMID, CAPSULE, ELLIPSOID };
enum { P_PARAMS = 0, P_POINTS = 1, P_POSE = 2, P_NOISE = 3 };

/* ------------------------------------------------------------------ the table */
typedef struct subcat_def {
  const char *name;
  double p[3]; /* box half-sides / ellipsoid semi-axes / (1, p1, 0) */
  int jitter;  /* which of p is multiplied by exp(U(-0.1, 0.1)): bit k for p[k] */
} subcat_def;

typedef struct class_def {
  const char *name;
  int n;
  subcat_def sub[GS_SHAPES_MAX_SUBCATS];
} class_def;

#define JITTER 0.1
static const class_def classes[GS_SHAPES_CLASSES] = {
    {"sphere", 2, {{"full", {1, 0, 0}, 0}, {"hemisphere", {1, 0, 0}, 0}}},
    {"cube", 3, {{"cube", {1, 1, 1}, 7}, {"slab", {1, 1, 0.3}, 4}, {"bar", {0.3, 0.3, 1}, 3}}},
    {"cylinder", 2, {{"short", {1, 0.3, 0}, 2}, {"tall", {1, 2, 0}, 2}}},
    {"cone", 2, {{"flat", {1, 0.5, 0}, 2}, {"tall", {1, 3, 0}, 2}}},
    {"torus", 2, {{"thin", {1, 0.15, 0}, 2}, {"thick", {1, 0.45, 0}, 2}}},
    {"pyramid", 3, {{"squat", {1, 0.6, 0}, 2}, {"tall", {1, 5, 0}, 2}, {"tetrahedron", {1, 0, 0}, 0}}},
    {"capsule", 2, {{"short", {1, 0.6, 0}, 2}, {"long", {1, 2.5, 0}, 2}}},
    {"ellipsoid", 3, {{"prolate", {1, 1, 2.5}, 4}, {"oblate", {1, 1, 0.35}, 4}, {"triaxial", {1, 0.55, 0.3}, 6}}},
};

const char *gs_shapes_class_name(int label) {
  return label >= 0 && label < GS_SHAPES_CLASSES ? classes[label].name : "?";
}
int gs_shapes_subcats(int label) { return label >= 0 && label < GS_SHAPES_CLASSES ? classes[label].n : 0; }
const char *gs_shapes_subcat_name(int label, int subcat) {
  return subcat >= 0 && subcat < gs_shapes_subcats(label) ? classes[label].sub[subcat].name : "?";
}
int gs_shapes_subcat_global(int label, int subcat) {
  if (subcat < 0 || subcat >= gs_shapes_subcats(label)) return -1;
  int g = 0;
  for (int c = 0; c < label; c++) g += classes[c].n;
  return g + subcat;
}
int gs_shapes_subcat_of(long i) {
  if (i < 0) return -1;
  return (int)((i / GS_SHAPES_CLASSES) % classes[gs_shapes_label_of(i)].n);
}

/* ------------------------------------------------------------------ options */
void gs_shapes_defaults(gs_shapes_options *o) {
  memset(o, 0, sizeof *o);
  o->points = GS_SHAPES_DEFAULT_POINTS;
  o->seed = 0;
  o->rotation = GS_SHAPES_ROTATE_NONE;
  o->noise = 0.005;
  o->anisotropy = 0.1;
  o->scale_min = 0.8;
  o->scale_max = 1.0;
}

int gs_shapes_check(const gs_shapes_options *o, gs_error *err) {
  if (o->points < 1 || o->points > GS_SHAPES_MAX_POINTS)
    return gs_fail(err, "shapes: points is %d, must be 1 .. %d", o->points, GS_SHAPES_MAX_POINTS);
  if (o->rotation != GS_SHAPES_ROTATE_NONE && o->rotation != GS_SHAPES_ROTATE_Z && o->rotation != GS_SHAPES_ROTATE_ANY)
    return gs_fail(err, "shapes: rotation is %d, must be none (0), z (1) or any (2)", (int)o->rotation);
  /* the negated comparisons also refuse NaN */
  if (!(o->noise >= 0 && o->noise <= 0.2)) return gs_fail(err, "shapes: noise is %g, must be 0 .. 0.2", o->noise);
  if (!(o->anisotropy >= 0 && o->anisotropy <= 0.5))
    return gs_fail(err, "shapes: anisotropy is %g, must be 0 .. 0.5", o->anisotropy);
  if (!(o->scale_min > 0 && o->scale_min <= o->scale_max && o->scale_max <= 1))
    return gs_fail(err, "shapes: scale range is %g .. %g, must satisfy 0 < scale_min <= scale_max <= 1", o->scale_min,
                   o->scale_max);
  return 0;
}

const char *gs_shapes_rotation_name(gs_shapes_rotation r) {
  switch (r) {
  case GS_SHAPES_ROTATE_NONE: return "none";
  case GS_SHAPES_ROTATE_Z: return "z";
  case GS_SHAPES_ROTATE_ANY: return "any";
  }
  return "?";
}

int gs_shapes_rotation_parse(const char *s, gs_shapes_rotation *out) {
  for (int r = 0; r <= 2; r++)
    if (strcmp(s, gs_shapes_rotation_name((gs_shapes_rotation)r)) == 0) {
      *out = (gs_shapes_rotation)r;
      return 0;
    }
  return -1;
}

/* ------------------------------------------------------------------ canonical surfaces
 * Each sampler writes one point q uniform by area on its canonical surface and the unit outward
 * normal n there. A surface made of parts picks the part with probability proportional to its
 * area (pick()), then a uniform point on it. */
typedef struct surface {
  int cls, sub;
  double p[3];
  /* parts: cumulative areas; triangle meshes also keep their triangles */
  int nparts;
  double cum[8];
  double tri[6][3][3]; /* pyramids: up to 6 triangles (a, b, c), counter-clockwise seen from outside */
  double tri_n[6][3];  /* their normals */
} surface;

static int pick(const surface *s, double u) {
  double t = u * s->cum[s->nparts - 1];
  for (int k = 0; k < s->nparts - 1; k++)
    if (t < s->cum[k]) return k;
  return s->nparts - 1;
}

static void set3(double *v, double x, double y, double z) {
  v[0] = x;
  v[1] = y;
  v[2] = z;
}

static void cross(const double *a, const double *b, double *c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}

static void add_triangle(surface *s, const double *a, const double *b, const double *c) {
  int k = s->nparts;
  double e1[3], e2[3], n[3];
  for (int i = 0; i < 3; i++) {
    s->tri[k][0][i] = a[i];
    s->tri[k][1][i] = b[i];
    s->tri[k][2][i] = c[i];
    e1[i] = b[i] - a[i];
    e2[i] = c[i] - a[i];
  }
  cross(e1, e2, n);
  double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  for (int i = 0; i < 3; i++) s->tri_n[k][i] = n[i] / len;
  s->cum[k] = (k ? s->cum[k - 1] : 0) + 0.5 * len;
  s->nparts++;
}

static void add_part(surface *s, double area) {
  s->cum[s->nparts] = (s->nparts ? s->cum[s->nparts - 1] : 0) + area;
  s->nparts++;
}

/* Part areas (and pyramid triangles) of the canonical surface of class cls, sub-category sub,
 * parameters p. */
static void surface_setup(surface *s, int cls, int sub, const double *p) {
  memset(s, 0, sizeof *s);
  s->cls = cls;
  s->sub = sub;
  memcpy(s->p, p, sizeof s->p);
  switch (cls) {
  case SPHERE:
  case ELLIPSOID: /* the unit sphere; the ellipsoid's semi-axes are part of the stretch */
    if (cls == SPHERE && sub == 1) {
      add_part(s, 2 * M_PI); /* dome */
      add_part(s, M_PI);     /* base disc */
    } else
      add_part(s, 4 * M_PI);
    break;
  case CUBE: /* faces +-x, +-y, +-z */
    for (int ax = 0; ax < 3; ax++) {
      double a = 4 * p[(ax + 1) % 3] * p[(ax + 2) % 3];
      add_part(s, a);
      add_part(s, a);
    }
    break;
  case CYLINDER:
    add_part(s, 2 * M_PI * p[0] * 2 * p[1]); /* side */
    add_part(s, M_PI * p[0] * p[0]);         /* top */
    add_part(s, M_PI * p[0] * p[0]);         /* bottom */
    break;
  case CONE:
    add_part(s, M_PI * p[0] * hypot(p[0], p[1])); /* side: pi r L */
    add_part(s, M_PI * p[0] * p[0]);               /* base */
    break;
  case TORUS: add_part(s, 4 * M_PI * M_PI * p[0] * p[1]); break;
  case PYRAMID:
    if (sub == 2) {
      /* regular tetrahedron of edge 2: base an equilateral triangle centred on the z axis at z = 0 */
      double r = 2 / sqrt(3.0), h = 2 * sqrt(2.0 / 3.0);
      double v[3][3], apex[3] = {0, 0, h};
      for (int k = 0; k < 3; k++) set3(v[k], r * cos(2 * M_PI * k / 3), r * sin(2 * M_PI * k / 3), 0);
      add_triangle(s, v[0], v[2], v[1]); /* base, facing -z */
      for (int k = 0; k < 3; k++) add_triangle(s, v[k], v[(k + 1) % 3], apex);
    } else {
      double a = p[0], apex[3] = {0, 0, p[1]};
      double v[4][3];
      set3(v[0], a, a, 0);
      set3(v[1], -a, a, 0);
      set3(v[2], -a, -a, 0);
      set3(v[3], a, -a, 0);
      add_triangle(s, v[0], v[2], v[1]); /* base, two triangles facing -z */
      add_triangle(s, v[0], v[3], v[2]);
      for (int k = 0; k < 4; k++) add_triangle(s, v[k], v[(k + 1) % 4], apex);
    }
    break;
  case CAPSULE:
    add_part(s, 2 * M_PI * p[0] * 2 * p[1]); /* side */
    add_part(s, 4 * M_PI * p[0] * p[0]);     /* the two half spheres */
    break;
  }
}

/* uniform on the unit sphere (Archimedes: z uniform on [-1, 1], longitude uniform) */
static void unit_sphere(gs_rng *r, double *q) {
  double z = 2 * gs_rng_uniform(r) - 1, phi = 2 * M_PI * gs_rng_uniform(r);
  double rho = sqrt(fmax(0, 1 - z * z));
  set3(q, rho * cos(phi), rho * sin(phi), z);
}

/* uniform on the disc of radius R in the plane z = z0 */
static void disc(gs_rng *r, double R, double z0, double *q) {
  double rho = R * sqrt(gs_rng_uniform(r)), phi = 2 * M_PI * gs_rng_uniform(r);
  set3(q, rho * cos(phi), rho * sin(phi), z0);
}

static void sample_surface(const surface *s, gs_rng *r, double *q, double *n) {
  const double *p = s->p;
  int part = s->nparts > 1 ? pick(s, gs_rng_uniform(r)) : 0;
  switch (s->cls) {
  case SPHERE:
  case ELLIPSOID:
    if (part == 1) { /* hemisphere's base */
      disc(r, 1, 0, q);
      set3(n, 0, 0, -1);
    } else {
      unit_sphere(r, q);
      if (s->cls == SPHERE && s->sub == 1) q[2] = fabs(q[2]); /* the upper half: z uniform on [0, 1] */
      memcpy(n, q, 3 * sizeof *q);
    }
    break;
  case CUBE: {
    int ax = part / 2;
    double sign = part % 2 ? -1 : 1;
    double u = 2 * gs_rng_uniform(r) - 1, v = 2 * gs_rng_uniform(r) - 1;
    q[ax] = sign * p[ax];
    q[(ax + 1) % 3] = u * p[(ax + 1) % 3];
    q[(ax + 2) % 3] = v * p[(ax + 2) % 3];
    set3(n, 0, 0, 0);
    n[ax] = sign;
    break;
  }
  case CYLINDER:
    if (part == 0) {
      double z = p[1] * (2 * gs_rng_uniform(r) - 1), phi = 2 * M_PI * gs_rng_uniform(r);
      set3(q, p[0] * cos(phi), p[0] * sin(phi), z);
      set3(n, cos(phi), sin(phi), 0);
    } else {
      double sign = part == 1 ? 1 : -1;
      disc(r, p[0], sign * p[1], q);
      set3(n, 0, 0, sign);
    }
    break;
  case CONE:
    if (part == 0) {
      /* the side's area up to distance t from the apex grows as t^2: t = L sqrt(u) */
      double t = sqrt(gs_rng_uniform(r)), phi = 2 * M_PI * gs_rng_uniform(r);
      double L = hypot(p[0], p[1]);
      set3(q, p[0] * t * cos(phi), p[0] * t * sin(phi), p[1] * (1 - t));
      set3(n, p[1] * cos(phi) / L, p[1] * sin(phi) / L, p[0] / L);
    } else {
      disc(r, p[0], 0, q);
      set3(n, 0, 0, -1);
    }
    break;
  case TORUS: {
    /* the area element is (R + rho cos t) dt dphi: t by rejection against its largest value */
    double R = p[0], rho = p[1], t;
    do t = 2 * M_PI * gs_rng_uniform(r);
    while (gs_rng_uniform(r) * (R + rho) >= R + rho * cos(t));
    double phi = 2 * M_PI * gs_rng_uniform(r);
    set3(n, cos(t) * cos(phi), cos(t) * sin(phi), sin(t));
    set3(q, (R + rho * cos(t)) * cos(phi), (R + rho * cos(t)) * sin(phi), rho * sin(t));
    break;
  }
  case PYRAMID: {
    const double(*t)[3] = s->tri[part];
    double sq = sqrt(gs_rng_uniform(r)), u2 = gs_rng_uniform(r);
    double wa = 1 - sq, wb = sq * (1 - u2), wc = sq * u2;
    for (int i = 0; i < 3; i++) q[i] = wa * t[0][i] + wb * t[1][i] + wc * t[2][i];
    memcpy(n, s->tri_n[part], 3 * sizeof *n);
    break;
  }
  case CAPSULE:
    if (part == 0) {
      double z = p[1] * (2 * gs_rng_uniform(r) - 1), phi = 2 * M_PI * gs_rng_uniform(r);
      set3(q, p[0] * cos(phi), p[0] * sin(phi), z);
      set3(n, cos(phi), sin(phi), 0);
    } else {
      /* a point of the whole sphere: its upper half goes to the top cap, the lower to the bottom */
      unit_sphere(r, n);
      double shift = n[2] >= 0 ? p[1] : -p[1];
      set3(q, p[0] * n[0], p[0] * n[1], p[0] * n[2] + shift);
    }
    break;
  }
}

/* ------------------------------------------------------------------ rotation */
static void rotation(gs_shapes_rotation mode, gs_rng *r, double R[3][3]) {
  /* always three draws, so that the option changes nothing else */
  double u1 = gs_rng_uniform(r), u2 = gs_rng_uniform(r), u3 = gs_rng_uniform(r);
  memset(R, 0, 9 * sizeof(double));
  if (mode == GS_SHAPES_ROTATE_NONE) {
    R[0][0] = R[1][1] = R[2][2] = 1;
  } else if (mode == GS_SHAPES_ROTATE_Z) {
    double c = cos(2 * M_PI * u1), s = sin(2 * M_PI * u1);
    R[0][0] = c;
    R[0][1] = -s;
    R[1][0] = s;
    R[1][1] = c;
    R[2][2] = 1;
  } else {
    /* Shoemake (Graphics Gems III, "Uniform random rotations"): a uniform unit quaternion */
    double a = sqrt(1 - u1), b = sqrt(u1);
    double x = a * sin(2 * M_PI * u2), y = a * cos(2 * M_PI * u2);
    double z = b * sin(2 * M_PI * u3), w = b * cos(2 * M_PI * u3);
    R[0][0] = 1 - 2 * (y * y + z * z);
    R[0][1] = 2 * (x * y - z * w);
    R[0][2] = 2 * (x * z + y * w);
    R[1][0] = 2 * (x * y + z * w);
    R[1][1] = 1 - 2 * (x * x + z * z);
    R[1][2] = 2 * (y * z - x * w);
    R[2][0] = 2 * (x * z - y * w);
    R[2][1] = 2 * (y * z + x * w);
    R[2][2] = 1 - 2 * (x * x + y * y);
  }
}

/* ------------------------------------------------------------------ one cloud */
/* Centre x (n x 3) on its centroid and divide by the largest distance from it; returns that
 * distance (c gets the centroid). A cloud of coincident points (N = 1) is only centred. */
static double normalise(double *x, long n, double *c) {
  double s[3] = {0, 0, 0};
  for (long i = 0; i < n; i++)
    for (int k = 0; k < 3; k++) s[k] += x[3 * i + k];
  for (int k = 0; k < 3; k++) c[k] = s[k] / (double)n;
  double m2 = 0;
  for (long i = 0; i < n; i++) {
    double d2 = 0;
    for (int k = 0; k < 3; k++) {
      x[3 * i + k] -= c[k];
      d2 += x[3 * i + k] * x[3 * i + k];
    }
    if (d2 > m2) m2 = d2;
  }
  double m = sqrt(m2);
  if (m > 0)
    for (long i = 0; i < 3 * n; i++) x[i] /= m;
  return m > 0 ? m : 1;
}

static void make_cloud(const gs_shapes_options *o, long index, double *x, float *out, gs_shape_info *info) {
  int label = gs_shapes_label_of(index), sub = gs_shapes_subcat_of(index);
  const subcat_def *def = &classes[label].sub[sub];
  long N = o->points;
  gs_rng r;

  /* parameters: 3 jitters, 3 stretches, the scale (7 draws whatever the options) */
  gs_rng_seed(&r, o->seed, (uint64_t)index, GS_SHAPES_RNG + P_PARAMS);
  double p[3], d[3];
  for (int k = 0; k < 3; k++) {
    double u = 2 * gs_rng_uniform(&r) - 1;
    p[k] = def->p[k] * ((def->jitter >> k) & 1 ? exp(JITTER * u) : 1);
  }
  for (int k = 0; k < 3; k++) d[k] = exp(o->anisotropy * (2 * gs_rng_uniform(&r) - 1));
  double scale = o->scale_min + (o->scale_max - o->scale_min) * gs_rng_uniform(&r);
  if (label == ELLIPSOID)
    for (int k = 0; k < 3; k++) d[k] *= p[k];

  /* surface points, stretched by d, uniform by area on the stretched surface (rejection) */
  surface s;
  surface_setup(&s, label, sub, p);
  gs_rng_seed(&r, o->seed, (uint64_t)index, GS_SHAPES_RNG + P_POINTS);
  double jx = d[1] * d[2], jy = d[0] * d[2], jz = d[0] * d[1];
  double jmax = fmax(jx, fmax(jy, jz));
  int uniform = d[0] == d[1] && d[1] == d[2]; /* a pure scaling: every point kept */
  double R[3][3];
  {
    gs_rng rr;
    gs_rng_seed(&rr, o->seed, (uint64_t)index, GS_SHAPES_RNG + P_POSE);
    rotation(o->rotation, &rr, R);
  }
  for (long i = 0; i < N; i++) {
    double q[3], n[3];
    for (;;) {
      sample_surface(&s, &r, q, n);
      if (uniform) break;
      double a = jx * n[0], b = jy * n[1], c = jz * n[2];
      if (gs_rng_uniform(&r) * jmax < sqrt(a * a + b * b + c * c)) break;
    }
    double y[3] = {d[0] * q[0], d[1] * q[1], d[2] * q[2]};
    for (int k = 0; k < 3; k++) x[3 * i + k] = R[k][0] * y[0] + R[k][1] * y[1] + R[k][2] * y[2];
  }

  /* normalise, noise, normalise to radius `scale` */
  double c1[3], c2[3];
  double m1 = normalise(x, N, c1);
  gs_rng_seed(&r, o->seed, (uint64_t)index, GS_SHAPES_RNG + P_NOISE);
  if (o->noise > 0) /* its own stream: the noise changes nothing else */
    for (long i = 0; i < 3 * N; i++) x[i] += o->noise * gs_rng_normal(&r);
  double m2 = normalise(x, N, c2);
  for (long i = 0; i < 3 * N; i++) out[i] = (float)(scale * x[i]);

  if (info) {
    memset(info, 0, sizeof *info);
    info->label = label;
    info->subcat = sub;
    memcpy(info->param, p, sizeof p);
    memcpy(info->stretch, d, sizeof d);
    memcpy(info->rot, R, sizeof R);
    /* out = scale * ((y - c1) / m1 + noise - c2) / m2 = factor * (y - (c1 + m1 c2)) + ... */
    for (int k = 0; k < 3; k++) info->centre[k] = c1[k] + m1 * c2[k];
    info->factor = scale / (m1 * m2);
    info->scale = scale;
  }
}

int gs_shapes_cloud(const gs_shapes_options *o, long index, float *points, gs_shape_info *info, gs_error *err) {
  if (gs_shapes_check(o, err) != 0) return -1;
  if (index < 0) return gs_fail(err, "shapes: cloud index %ld is negative", index);
  double *x = gs_malloc(sizeof(double) * 3 * (size_t)o->points);
  make_cloud(o, index, x, points, info);
  free(x);
  return 0;
}

int gs_shapes_generate(const gs_shapes_options *o, long first, long n, float *points, uint8_t *label,
                       uint8_t *subcat, gs_error *err) {
  if (gs_shapes_check(o, err) != 0) return -1;
  if (first < 0 || n < 0) return gs_fail(err, "shapes: clouds %ld .. %ld+%ld: negative index or count", first, first, n);
  double *x = gs_malloc(sizeof(double) * 3 * (size_t)o->points);
  size_t stride = 3 * (size_t)o->points;
  for (long i = 0; i < n; i++) {
    make_cloud(o, first + i, x, points + (size_t)i * stride, NULL);
    if (label) label[i] = (uint8_t)gs_shapes_label_of(first + i);
    if (subcat) subcat[i] = (uint8_t)gs_shapes_subcat_of(first + i);
    if ((i & 63) == 63) gs_poll();
  }
  free(x);
  return 0;
}
