/* Synthetic shapes (data/shapes.h) and point-cloud HDF5 files (io/pointcloud_h5.h):
 * determinism, labels, sub-categories told apart by a covariance statistic, points on the
 * analytic surfaces and uniform by area, normalisation, rotation options, the cache round trip,
 * the ModelNet40 layout, and corrupt or hostile files (each a clear error naming the file). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "gensweep/data/shapes.h"
#include "gensweep/io/pointcloud_h5.h"

#define TEST_TMP_NAME "gs_shapes"
#include "testutil.h"

/* ------------------------------------------------------------------ helpers */
static gs_shapes_options opts(int points) {
  gs_shapes_options o;
  gs_shapes_defaults(&o);
  o.points = points;
  o.seed = 12345;
  return o;
}

static float *gen(const gs_shapes_options *o, long first, long n, uint8_t *label, uint8_t *sub) {
  float *x = malloc(sizeof(float) * 3 * (size_t)o->points * (size_t)n);
  gs_error err = {0};
  cr_assert_eq(gs_shapes_generate(o, first, n, x, label, sub, &err), 0, "%s", err.msg);
  return x;
}

/* Eigenvalues of a symmetric 3x3 matrix (cyclic Jacobi), descending; vectors in columns of V. */
static void eig3(double A[3][3], double l[3], double V[3][3]) {
  double a[3][3];
  memcpy(a, A, sizeof a);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) V[i][j] = i == j;
  for (int sweep = 0; sweep < 50; sweep++) {
    double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    if (off < 1e-30) break;
    for (int p = 0; p < 2; p++)
      for (int q = p + 1; q < 3; q++) {
        if (fabs(a[p][q]) < 1e-300) continue;
        double th = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 3; k++) { /* a = J^T a J */
          double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; k++) {
          double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; k++) {
          double vkp = V[k][p], vkq = V[k][q];
          V[k][p] = c * vkp - s * vkq;
          V[k][q] = s * vkp + c * vkq;
        }
      }
  }
  int idx[3] = {0, 1, 2};
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (a[idx[j]][idx[j]] > a[idx[i]][idx[i]]) {
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
      }
  double W[3][3];
  for (int i = 0; i < 3; i++) {
    l[i] = a[idx[i]][idx[i]];
    for (int k = 0; k < 3; k++) W[k][i] = V[k][idx[i]];
  }
  memcpy(V, W, sizeof W);
}

/* Covariance eigenvalues (descending) and the principal axis of one cloud. */
static void pca(const float *x, int N, double l[3], double axis[3]) {
  double m[3] = {0, 0, 0}, C[3][3] = {{0}}, V[3][3];
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 3; k++) m[k] += x[3 * i + k] / N;
  for (int i = 0; i < N; i++)
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) C[a][b] += (x[3 * i + a] - m[a]) * (x[3 * i + b] - m[b]) / N;
  eig3(C, l, V);
  if (axis)
    for (int k = 0; k < 3; k++) axis[k] = V[k][0];
}

/* The point of the canonical surface a cloud point came from (noise 0): the map of shapes.h inverted. */
static void canonical(const gs_shape_info *in, const float *p, double q[3]) {
  double y[3], z[3];
  for (int k = 0; k < 3; k++) y[k] = p[k] / in->factor + in->centre[k];
  for (int k = 0; k < 3; k++) z[k] = in->rot[0][k] * y[0] + in->rot[1][k] * y[1] + in->rot[2][k] * y[2];
  for (int k = 0; k < 3; k++) q[k] = z[k] / in->stretch[k];
}

static double seg2(double px, double pz, double ax, double az, double bx, double bz) {
  double dx = bx - ax, dz = bz - az;
  double t = ((px - ax) * dx + (pz - az) * dz) / (dx * dx + dz * dz);
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return hypot(px - ax - t * dx, pz - az - t * dz);
}

/* Largest signed distance to the face planes of a convex polyhedron given by its vertices
 * (0 on the surface); faces are every vertex triple that all other vertices lie behind. */
static double convex_residual(const double (*v)[3], int nv, const double *q) {
  double worst = -1e300;
  for (int a = 0; a < nv; a++)
    for (int b = a + 1; b < nv; b++)
      for (int c = b + 1; c < nv; c++) {
        double e1[3], e2[3], n[3];
        for (int k = 0; k < 3; k++) {
          e1[k] = v[b][k] - v[a][k];
          e2[k] = v[c][k] - v[a][k];
        }
        n[0] = e1[1] * e2[2] - e1[2] * e2[1];
        n[1] = e1[2] * e2[0] - e1[0] * e2[2];
        n[2] = e1[0] * e2[1] - e1[1] * e2[0];
        double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (len < 1e-12) continue;
        int pos = 0, neg = 0;
        for (int o = 0; o < nv; o++) {
          double s = 0;
          for (int k = 0; k < 3; k++) s += n[k] * (v[o][k] - v[a][k]);
          if (s > 1e-9) pos++;
          if (s < -1e-9) neg++;
        }
        if (pos && neg) continue; /* not a face */
        double sign = pos ? -1 : 1;  /* outward */
        double s = 0;
        for (int k = 0; k < 3; k++) s += sign * n[k] * (q[k] - v[a][k]) / len;
        if (s > worst) worst = s;
      }
  return worst;
}

/* Distance of q from the canonical surface of (label, subcat, param): an independent
 * re-statement of the table in shapes.h. */
static double surface_distance(int label, int sub, const double *p, const double *q) {
  double rho = hypot(q[0], q[1]), z = q[2];
  switch (label) {
  case 0:
    if (sub == 0) return fabs(sqrt(rho * rho + z * z) - 1);
    return fmin(z >= 0 ? fabs(sqrt(rho * rho + z * z) - 1) : 1e9, seg2(rho, z, 0, 0, 1, 0));
  case 1: {
    double v[8][3];
    for (int i = 0; i < 8; i++)
      for (int k = 0; k < 3; k++) v[i][k] = (i >> k & 1 ? 1 : -1) * p[k];
    return fabs(convex_residual((const double(*)[3])v, 8, q));
  }
  case 2:
    return fmin(seg2(rho, z, p[0], -p[1], p[0], p[1]),
                fmin(seg2(rho, z, 0, p[1], p[0], p[1]), seg2(rho, z, 0, -p[1], p[0], -p[1])));
  case 3: return fmin(seg2(rho, z, 0, 0, p[0], 0), seg2(rho, z, p[0], 0, 0, p[1]));
  case 4: return fabs(hypot(rho - p[0], z) - p[1]);
  case 5: {
    double v[5][3];
    int nv;
    if (sub == 2) {
      double r = 2 / sqrt(3.0);
      for (int k = 0; k < 3; k++) {
        v[k][0] = r * cos(2 * M_PI * k / 3);
        v[k][1] = r * sin(2 * M_PI * k / 3);
        v[k][2] = 0;
      }
      v[3][0] = v[3][1] = 0;
      v[3][2] = 2 * sqrt(2.0 / 3.0);
      nv = 4;
    } else {
      for (int k = 0; k < 4; k++) {
        v[k][0] = (k == 0 || k == 3) ? p[0] : -p[0];
        v[k][1] = k < 2 ? p[0] : -p[0];
        v[k][2] = 0;
      }
      v[4][0] = v[4][1] = 0;
      v[4][2] = p[1];
      nv = 5;
    }
    return fabs(convex_residual((const double(*)[3])v, nv, q));
  }
  case 6: return fabs(hypot(rho, fmax(fabs(z) - p[1], 0)) - p[0]);
  case 7: return fabs(sqrt(rho * rho + z * z) - 1); /* the unit sphere; the semi-axes are in the stretch */
  }
  return 1e9;
}

/* ------------------------------------------------------------------ the generator */
Test(shapes, deterministic_and_independent_of_n_and_split) {
  gs_shapes_options o = opts(256);
  size_t cloud = 3 * 256;
  uint8_t l1[100], s1[100], l2[100], s2[100];
  float *a = gen(&o, 0, 40, l1, s1), *b = gen(&o, 0, 40, l2, s2), *c = gen(&o, 0, 100, NULL, NULL);
  cr_assert_eq(memcmp(a, b, sizeof(float) * cloud * 40), 0, "two runs differ");
  cr_assert_eq(memcmp(l1, l2, 40), 0);
  cr_assert_eq(memcmp(s1, s2, 40), 0);
  cr_assert_eq(memcmp(a, c, sizeof(float) * cloud * 40), 0, "the first 40 clouds depend on n");
  float *d = gen(&o, 25, 10, NULL, NULL);
  cr_assert_eq(memcmp(d, c + 25 * cloud, sizeof(float) * cloud * 10), 0, "clouds 25..34 depend on the split");
  float one[3 * 256];
  gs_error err = {0};
  cr_assert_eq(gs_shapes_cloud(&o, 77, one, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(one, c + 77 * cloud, sizeof one), 0);
  /* another seed, other clouds; the noise changes the points, not the shape's draws */
  gs_shapes_options o2 = o;
  o2.seed = 12346;
  float *e = gen(&o2, 0, 40, NULL, NULL);
  cr_assert_neq(memcmp(a, e, sizeof(float) * cloud * 40), 0);
  gs_shape_info i1, i2;
  o2 = o;
  o2.noise = 0.05;
  cr_assert_eq(gs_shapes_cloud(&o, 5, one, &i1, &err), 0);
  cr_assert_eq(gs_shapes_cloud(&o2, 5, one, &i2, &err), 0);
  cr_assert_eq(memcmp(i1.param, i2.param, sizeof i1.param), 0);
  cr_assert_eq(memcmp(i1.stretch, i2.stretch, sizeof i1.stretch), 0);
  cr_assert_eq(memcmp(i1.rot, i2.rot, sizeof i1.rot), 0);
  cr_assert_eq(i1.scale, i2.scale);
  free(a), free(b), free(c), free(d), free(e);
}

Test(shapes, labels_balanced_and_every_subcategory_present) {
  int seen[GS_SHAPES_CLASSES][GS_SHAPES_MAX_SUBCATS] = {{0}}, per_class[GS_SHAPES_CLASSES] = {0};
  for (long i = 0; i < 48; i++) {
    int l = gs_shapes_label_of(i), s = gs_shapes_subcat_of(i);
    cr_assert_eq(l, i % 8);
    cr_assert(s >= 0 && s < gs_shapes_subcats(l));
    seen[l][s]++;
    per_class[l]++;
  }
  int total = 0, globals[GS_SHAPES_SUBCATS_TOTAL] = {0};
  for (int l = 0; l < GS_SHAPES_CLASSES; l++) {
    cr_assert_eq(per_class[l], 6);
    cr_assert(gs_shapes_subcats(l) >= 2 && gs_shapes_subcats(l) <= 3);
    cr_assert_neq(strcmp(gs_shapes_class_name(l), "?"), 0);
    for (int s = 0; s < gs_shapes_subcats(l); s++) {
      cr_assert_eq(seen[l][s], 6 / gs_shapes_subcats(l), "class %d sub %d seen %d times", l, s, seen[l][s]);
      int g = gs_shapes_subcat_global(l, s);
      cr_assert(g >= 0 && g < GS_SHAPES_SUBCATS_TOTAL);
      globals[g]++;
      total++;
    }
  }
  cr_assert_eq(total, GS_SHAPES_SUBCATS_TOTAL);
  for (int g = 0; g < GS_SHAPES_SUBCATS_TOTAL; g++) cr_assert_eq(globals[g], 1);
  cr_assert_eq(gs_shapes_subcat_global(3, 2), -1);
  cr_assert_str_eq(gs_shapes_class_name(4), "torus");
  cr_assert_str_eq(gs_shapes_subcat_name(4, 0), "thin");
  /* the generated arrays agree */
  gs_shapes_options o = opts(8);
  uint8_t l[96], s[96];
  free(gen(&o, 0, 96, l, s));
  for (int i = 0; i < 96; i++) cr_assert(l[i] == i % 8 && s[i] == gs_shapes_subcat_of(i));
}

/* The sub-categories of each class occupy disjoint ranges of e1 = sqrt(l2/l1) or e2 =
 * sqrt(l3/l2) (covariance eigenvalues l1 >= l2 >= l3), under the default options and uniform
 * random rotations: a statistic a mixture prior can pick up. */
Test(shapes, subcategories_separate_by_an_aspect_statistic) {
  gs_shapes_options o = opts(1024);
  o.rotation = GS_SHAPES_ROTATE_ANY;
  long n = 480; /* >= 20 clouds of every sub-category */
  uint8_t lab[480], sub[480];
  float *x = gen(&o, 0, n, lab, sub);
  double lo[8][3][2], hi[8][3][2];
  for (int c = 0; c < 8; c++)
    for (int s = 0; s < 3; s++)
      for (int k = 0; k < 2; k++) lo[c][s][k] = 1e9, hi[c][s][k] = -1e9;
  for (long i = 0; i < n; i++) {
    double l[3];
    pca(x + i * 3 * o.points, o.points, l, NULL);
    double e[2] = {sqrt(l[1] / l[0]), sqrt(l[2] / l[1])};
    for (int k = 0; k < 2; k++) {
      lo[lab[i]][sub[i]][k] = fmin(lo[lab[i]][sub[i]][k], e[k]);
      hi[lab[i]][sub[i]][k] = fmax(hi[lab[i]][sub[i]][k], e[k]);
    }
  }
  for (int c = 0; c < 8; c++) {
    for (int s = 0; s < gs_shapes_subcats(c); s++)
      cr_log_info("%-9s %-11s e1 %.3f..%.3f  e2 %.3f..%.3f", gs_shapes_class_name(c), gs_shapes_subcat_name(c, s),
                  lo[c][s][0], hi[c][s][0], lo[c][s][1], hi[c][s][1]);
    for (int s = 0; s < gs_shapes_subcats(c); s++)
      for (int t = s + 1; t < gs_shapes_subcats(c); t++) {
        int apart = 0;
        for (int k = 0; k < 2; k++)
          if (hi[c][s][k] < lo[c][t][k] || hi[c][t][k] < lo[c][s][k]) apart = 1;
        cr_assert(apart, "%s: %s and %s overlap in both e1 (%.3f..%.3f, %.3f..%.3f) and e2 (%.3f..%.3f, %.3f..%.3f)",
                  gs_shapes_class_name(c), gs_shapes_subcat_name(c, s), gs_shapes_subcat_name(c, t), lo[c][s][0],
                  hi[c][s][0], lo[c][t][0], hi[c][t][0], lo[c][s][1], hi[c][s][1], lo[c][t][1], hi[c][t][1]);
      }
  }
  free(x);
}

/* Noise 0: every point lies on its canonical surface once the stretch, rotation and
 * normalisation are undone (all 19 sub-categories, random rotations, default anisotropy). */
Test(shapes, points_lie_on_the_analytic_surface) {
  gs_shapes_options o = opts(512);
  o.noise = 0;
  o.rotation = GS_SHAPES_ROTATE_ANY;
  float *x = malloc(sizeof(float) * 3 * 512);
  gs_error err = {0};
  for (long i = 0; i < 96; i++) {
    gs_shape_info in;
    cr_assert_eq(gs_shapes_cloud(&o, i, x, &in, &err), 0, "%s", err.msg);
    double worst = 0;
    for (int j = 0; j < o.points; j++) {
      double q[3];
      canonical(&in, x + 3 * j, q);
      double dist = surface_distance(in.label, in.subcat, in.param, q);
      if (dist > worst) worst = dist;
    }
    cr_assert_lt(worst, 2e-5, "cloud %ld (%s %s): a point %.3g from the surface", i, gs_shapes_class_name(in.label),
                 gs_shapes_subcat_name(in.label, in.subcat), worst);
  }
  /* with noise, the points leave the surface by about the noise */
  o.noise = 0.02;
  gs_shape_info in;
  cr_assert_eq(gs_shapes_cloud(&o, 4, x, &in, &err), 0); /* a thin torus */
  double s2 = 0;
  for (int j = 0; j < o.points; j++) {
    double q[3];
    canonical(&in, x + 3 * j, q);
    double dist = surface_distance(in.label, in.subcat, in.param, q);
    s2 += dist * dist;
  }
  cr_assert_gt(sqrt(s2 / o.points), 0.002);
  free(x);
}

/* Uniform by area: the share of points on each part matches its share of the area. Summed over
 * clouds, a count's deviation from its expectation must stay within 5 standard deviations. */
typedef struct tally {
  double obs, expect, var;
} tally;
static void tally_add(tally *t, int count, int n, double frac) {
  t->obs += count;
  t->expect += n * frac;
  t->var += n * frac * (1 - frac);
}
static void tally_check(const tally *t, const char *what) {
  double z = (t->obs - t->expect) / sqrt(t->var);
  cr_log_info("%s: %.0f points, expected %.1f (z = %.2f)", what, t->obs, t->expect, z);
  cr_assert_lt(fabs(z), 5, "%s: %.0f points, expected %.1f (z = %.2f)", what, t->obs, t->expect, z);
}

Test(shapes, uniform_by_area) {
  gs_shapes_options o = opts(2048);
  o.noise = 0;
  gs_error err = {0};
  float *x = malloc(sizeof(float) * 3 * 2048);
  /* a strongly stretched box: its faces' shares follow the stretched areas (the rejection step) */
  o.anisotropy = 0.5;
  tally face[3] = {{0}};
  for (long i = 1; i < 8 * 12; i += 8) { /* the cube class, all three sub-categories */
    gs_shape_info in;
    cr_assert_eq(gs_shapes_cloud(&o, i, x, &in, &err), 0, "%s", err.msg);
    double side[3], area[3], total = 0;
    for (int k = 0; k < 3; k++) side[k] = in.param[k] * in.stretch[k];
    for (int k = 0; k < 3; k++) total += area[k] = side[(k + 1) % 3] * side[(k + 2) % 3];
    int count[3] = {0};
    for (int j = 0; j < o.points; j++) {
      double q[3];
      canonical(&in, x + 3 * j, q);
      int best = 0;
      for (int k = 1; k < 3; k++)
        if (fabs(fabs(q[k]) - in.param[k]) < fabs(fabs(q[best]) - in.param[best])) best = k;
      count[best]++;
    }
    for (int k = 0; k < 3; k++) tally_add(&face[k], count[k], o.points, area[k] / total);
  }
  tally_check(&face[0], "box faces normal to x");
  tally_check(&face[1], "box faces normal to y");
  tally_check(&face[2], "box faces normal to z");

  /* a prolate spheroid (anisotropy 0: semi-axes (1, 1, c)): the share with z > c/2 against the
   * area of that zone, from the surface-of-revolution integral */
  o.anisotropy = 0;
  tally cap = {0};
  for (long i = 7; i < 8 * 3 * 6; i += 24) {
    gs_shape_info in;
    cr_assert_eq(gs_shapes_cloud(&o, i, x, &in, &err), 0, "%s", err.msg);
    cr_assert_eq(in.subcat, 0);
    double c = in.stretch[2], a = in.stretch[0], zone = 0, total = 0;
    cr_assert_eq(in.stretch[0], in.stretch[1]);
    int steps = 200000;
    for (int k = 0; k < steps; k++) { /* z = c cos t: dA = 2 pi rho(t) |d(rho, z)/dt| dt */
      double t = M_PI * (k + 0.5) / steps;
      double dA = a * sin(t) * hypot(a * cos(t), c * sin(t));
      total += dA;
      if (cos(t) > 0.5) zone += dA;
    }
    int count = 0;
    for (int j = 0; j < o.points; j++) {
      double q[3];
      canonical(&in, x + 3 * j, q);
      count += q[2] > 0.5;
    }
    tally_add(&cap, count, o.points, zone / total);
  }
  tally_check(&cap, "prolate spheroid, zone z > c/2");

  /* cylinder caps, torus inner half, cone side and the lower half of the side */
  tally caps = {0}, inner = {0}, side = {0}, lower = {0};
  for (long i = 0; i < 96; i++) {
    int l = gs_shapes_label_of(i);
    if (l != 2 && l != 3 && l != 4) continue;
    gs_shape_info in;
    cr_assert_eq(gs_shapes_cloud(&o, i, x, &in, &err), 0, "%s", err.msg);
    double r = in.param[0], p1 = in.param[1];
    int n1 = 0, n2 = 0;
    for (int j = 0; j < o.points; j++) {
      double q[3];
      canonical(&in, x + 3 * j, q);
      double rho = hypot(q[0], q[1]);
      if (l == 2) n1 += fabs(fabs(q[2]) - p1) < fabs(rho - r);
      if (l == 4) n1 += rho < r;
      if (l == 3 && fabs(q[2]) > 1e-6) {
        n1++;
        n2 += q[2] < p1 / 2;
      }
    }
    if (l == 2) tally_add(&caps, n1, o.points, 2 * M_PI * r * r / (2 * M_PI * r * r + 4 * M_PI * r * p1));
    if (l == 4) tally_add(&inner, n1, o.points, (M_PI * r - 2 * p1) / (2 * M_PI * r));
    if (l == 3) {
      double L = hypot(r, p1);
      tally_add(&side, n1, o.points, L / (L + r));
      tally_add(&lower, n2, n1, 0.75);
    }
  }
  tally_check(&caps, "cylinder caps");
  tally_check(&inner, "torus inner half");
  tally_check(&side, "cone side");
  tally_check(&lower, "cone side below half height");
  free(x);
}

Test(shapes, normalised_centred_in_the_unit_sphere) {
  float *x = malloc(sizeof(float) * 3 * 1024);
  gs_error err = {0};
  double noises[2] = {0.005, 0.1};
  for (int v = 0; v < 2; v++) {
    gs_shapes_options o = opts(1024);
    o.noise = noises[v];
    o.rotation = GS_SHAPES_ROTATE_ANY;
    for (long i = 0; i < 48; i++) {
      gs_shape_info in;
      cr_assert_eq(gs_shapes_cloud(&o, i, x, &in, &err), 0, "%s", err.msg);
      double m[3] = {0, 0, 0}, r = 0;
      for (int j = 0; j < o.points; j++) {
        for (int k = 0; k < 3; k++) m[k] += x[3 * j + k];
        r = fmax(r, sqrt((double)x[3 * j] * x[3 * j] + (double)x[3 * j + 1] * x[3 * j + 1] +
                         (double)x[3 * j + 2] * x[3 * j + 2]));
      }
      cr_assert_lt(hypot(hypot(m[0], m[1]), m[2]) / o.points, 1e-6, "cloud %ld not centred", i);
      cr_assert(in.scale >= o.scale_min && in.scale <= o.scale_max);
      cr_assert_lt(fabs(r - in.scale), 1e-6, "cloud %ld: farthest point at %.7f, scale %.7f", i, r, in.scale);
      cr_assert_leq(r, 1 + 1e-6);
    }
  }
  free(x);
}

Test(shapes, rotation_options) {
  int N = 256;
  long n = 100;
  gs_error err = {0};
  float *a = malloc(sizeof(float) * 3 * N), *b = malloc(sizeof(float) * 3 * N);
  gs_shapes_options none = opts(N), about_z = opts(N), any = opts(N);
  /* noise 0: noise added after a rotation about z does not commute with it */
  none.noise = about_z.noise = 0;
  about_z.rotation = GS_SHAPES_ROTATE_Z;
  any.rotation = GS_SHAPES_ROTATE_ANY;
  for (long i = 0; i < n; i++) {
    gs_shape_info in0, inz, ina;
    cr_assert_eq(gs_shapes_cloud(&none, i, a, &in0, &err), 0, "%s", err.msg);
    cr_assert_eq(gs_shapes_cloud(&about_z, i, b, &inz, &err), 0, "%s", err.msg);
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) cr_assert_eq(in0.rot[r][c], r == c ? 1.0 : 0.0);
    cr_assert(inz.rot[2][0] == 0 && inz.rot[2][1] == 0 && inz.rot[2][2] == 1 && inz.rot[0][2] == 0 && inz.rot[1][2] == 0);
    /* about z: the z coordinates are those of the unrotated cloud */
    if (i < 40)
      for (int j = 0; j < N; j++) cr_assert_lt(fabsf(a[3 * j + 2] - b[3 * j + 2]), 1e-5f);
    cr_assert_eq(gs_shapes_cloud(&any, i, b, &ina, &err), 0, "%s", err.msg);
    /* a rotation: orthonormal, determinant +1 */
    for (int r = 0; r < 3; r++)
      for (int s = 0; s < 3; s++) {
        double d = 0;
        for (int k = 0; k < 3; k++) d += ina.rot[r][k] * ina.rot[s][k];
        cr_assert_lt(fabs(d - (r == s)), 1e-12);
      }
    double (*R)[3] = ina.rot;
    double det = R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) - R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
                 R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
    cr_assert_lt(fabs(det - 1), 1e-12);
  }
  /* uniform rotations: the canonical axis's z component, R[2][2], is uniform on [-1, 1]
   * (4,000 small clouds; bounds at 5 standard errors) */
  gs_shapes_options tiny = opts(4);
  tiny.rotation = GS_SHAPES_ROTATE_ANY;
  double sum = 0, sum_abs = 0;
  int below[3] = {0};
  long m = 4000;
  for (long i = 0; i < m; i++) {
    gs_shape_info in;
    float t[12];
    cr_assert_eq(gs_shapes_cloud(&tiny, i, t, &in, &err), 0, "%s", err.msg);
    double c = in.rot[2][2];
    sum += c;
    sum_abs += fabs(c);
    for (int k = 0; k < 3; k++) below[k] += c < -0.5 + 0.5 * k;
  }
  cr_assert_lt(fabs(sum / m), 5 * sqrt(1 / 3.0 / m), "mean of the tilt cosine %.4f", sum / m);
  cr_assert_lt(fabs(sum_abs / m - 0.5), 5 * sqrt(1 / 12.0 / m), "mean |cos tilt| %.4f", sum_abs / m);
  for (int k = 0; k < 3; k++) /* the CDF at -0.5, 0, 0.5 */
    cr_assert_lt(fabs(below[k] - m * (k + 1) / 4.0), 5 * sqrt(m * 0.25), "CDF at %.1f: %d of %ld", -0.5 + 0.5 * k,
                 below[k], m);
  /* none keeps the canonical axis: a tall cylinder's principal axis is z, after "any" it is not always */
  int tilted = 0;
  for (long i = 10; i < 10 + 48 * 4; i += 16) { /* class 2, sub-category 1 */
    cr_assert_eq(gs_shapes_label_of(i) * 10 + gs_shapes_subcat_of(i), 21);
    double l[3], axis[3];
    cr_assert_eq(gs_shapes_cloud(&none, i, a, NULL, &err), 0);
    pca(a, N, l, axis);
    cr_assert_gt(fabs(axis[2]), 0.99, "cloud %ld: principal axis (%.3f, %.3f, %.3f)", i, axis[0], axis[1], axis[2]);
    cr_assert_eq(gs_shapes_cloud(&any, i, a, NULL, &err), 0);
    pca(a, N, l, axis);
    tilted += fabs(axis[2]) < 0.9;
  }
  cr_assert_gt(tilted, 3);
  free(a);
  free(b);
}

Test(shapes, options_checked) {
  gs_shapes_options o = opts(2048);
  gs_error err = {0};
  cr_assert_eq(gs_shapes_check(&o, &err), 0);
  o.points = 0;
  cr_assert_eq(gs_shapes_check(&o, &err), -1);
  cr_assert(strstr(err.msg, "points"), "%s", err.msg);
  o = opts(16);
  o.noise = NAN;
  cr_assert_eq(gs_shapes_check(&o, &err), -1);
  cr_assert(strstr(err.msg, "noise"), "%s", err.msg);
  o = opts(16);
  o.scale_min = 0.9, o.scale_max = 0.5;
  cr_assert_eq(gs_shapes_generate(&o, 0, 1, (float[48]){0}, NULL, NULL, &err), -1);
  cr_assert(strstr(err.msg, "scale"), "%s", err.msg);
  o = opts(16);
  o.rotation = (gs_shapes_rotation)7;
  cr_assert_eq(gs_shapes_check(&o, &err), -1);
  gs_shapes_rotation r;
  cr_assert_eq(gs_shapes_rotation_parse("any", &r), 0);
  cr_assert_eq(r, GS_SHAPES_ROTATE_ANY);
  cr_assert_eq(gs_shapes_rotation_parse("x", &r), -1);
}

/* ------------------------------------------------------------------ files */
static char tmpdir[256];
static void setup(void) { make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown(void) { rm_rf(tmpdir); }
TestSuite(pcfile, .init = setup, .fini = teardown);

static const char *tpath(char *buf, const char *name) {
  snprintf(buf, 512, "%s/%s", tmpdir, name);
  return buf;
}

/* HDF5 must print nothing while reading bad files: stderr goes to a file, checked at the end */
static int saved_fd = -1;
static char quiet_file[600];
static void quiet_begin(void) {
  snprintf(quiet_file, sizeof quiet_file, "%s/stderr.txt", tmpdir);
  fflush(stderr);
  saved_fd = dup(2);
  int fd = open(quiet_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(saved_fd >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
}
static void quiet_end(void) {
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  cr_assert_eq(file_size(quiet_file), 0, "something was printed to stderr while reading bad files");
}

static void sets_equal(const gs_pointcloud_set *a, const gs_pointcloud_set *b) {
  cr_assert_eq(a->n, b->n);
  cr_assert_eq(a->points, b->points);
  cr_assert_eq(memcmp(a->xyz, b->xyz, sizeof(float) * 3 * (size_t)a->n * (size_t)a->points), 0, "clouds differ");
  cr_assert_eq(memcmp(a->label, b->label, (size_t)a->n), 0, "labels differ");
  cr_assert_eq(!a->subcat, !b->subcat);
  if (a->subcat) cr_assert_eq(memcmp(a->subcat, b->subcat, (size_t)a->n), 0, "sub-categories differ");
}

Test(pcfile, cache_round_trip_bit_identical) {
  char path[512], why[1200];
  gs_shapes_options o = opts(64);
  o.rotation = GS_SHAPES_ROTATE_Z;
  o.noise = 0.0123;
  gs_pointcloud_set s, r;
  gs_error err = {0};
  cr_assert_eq(gs_pointcloud_generate(&o, 100, 30, &s, &err), 0, "%s", err.msg);
  cr_assert_eq(s.n_classes, 8);
  tpath(path, "train.h5");
  cr_assert_eq(gs_pointcloud_write(path, &s, &err), 0, "%s", err.msg);
  cr_assert(!exists(tpath(why, "train.h5.tmp")), "temporary file left behind");
  cr_assert_eq(gs_pointcloud_read(path, 0, 8, &r, &err), 0, "%s", err.msg);
  sets_equal(&s, &r);
  cr_assert(r.has_generator && r.generator_version == GS_SHAPES_VERSION && r.first == 100 && r.n_classes == 8);
  cr_assert_eq(memcmp(&r.gen, &o, sizeof o), 0, "options differ after the round trip");
  gs_pointcloud_free(&r);
  /* the first 16 points of each cloud */
  cr_assert_eq(gs_pointcloud_read(path, 16, 0, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(r.points, 16);
  for (long i = 0; i < s.n; i++)
    cr_assert_eq(memcmp(r.xyz + i * 48, s.xyz + i * 64 * 3, sizeof(float) * 48), 0);
  gs_pointcloud_free(&r);

  /* the cache: fits these options, not others */
  cr_assert_eq(gs_pointcloud_cache_fits(path, &o, 100, 30, why, sizeof why), 1, "%s", why);
  gs_shapes_options o2 = o;
  o2.noise = 0.02;
  cr_assert_eq(gs_pointcloud_cache_fits(path, &o2, 100, 30, why, sizeof why), 0);
  cr_assert(strstr(why, "noise") && strstr(why, path), "%s", why);
  o2 = o;
  o2.rotation = GS_SHAPES_ROTATE_ANY;
  cr_assert_eq(gs_pointcloud_cache_fits(path, &o2, 100, 30, why, sizeof why), 0);
  cr_assert(strstr(why, "rotation z, not rotation any"), "%s", why);
  cr_assert_eq(gs_pointcloud_cache_fits(path, &o, 0, 30, why, sizeof why), 0);
  cr_assert(strstr(why, "first index"), "%s", why);
  cr_assert_eq(gs_pointcloud_cache_fits(path, &o, 100, 31, why, sizeof why), 0);
  cr_assert(strstr(why, "clouds"), "%s", why);
  cr_assert_eq(gs_pointcloud_cache_fits(tpath(why, "none.h5"), &o, 100, 30, why, sizeof why), 0);
  cr_assert(strstr(why, "missing"), "%s", why);
  gs_pointcloud_free(&s);
}

Test(pcfile, cache_load_generates_once_and_regenerates_on_change) {
  char path[512];
  gs_shapes_options o = opts(32);
  gs_pointcloud_set a, b, c;
  gs_error err = {0};
  int made = -1;
  tpath(path, "cache.h5");
  cr_assert_eq(gs_pointcloud_cache_load(path, &o, 0, 20, &a, &made, &err), 0, "%s", err.msg);
  cr_assert_eq(made, 1);
  cr_assert_eq(gs_pointcloud_cache_load(path, &o, 0, 20, &b, &made, &err), 0, "%s", err.msg);
  cr_assert_eq(made, 0);
  sets_equal(&a, &b);
  o.anisotropy = 0.2;
  cr_assert_eq(gs_pointcloud_cache_load(path, &o, 0, 20, &c, &made, &err), 0, "%s", err.msg);
  cr_assert_eq(made, 1);
  cr_assert_neq(memcmp(a.xyz, c.xyz, sizeof(float) * 20 * 32 * 3), 0);
  gs_pointcloud_free(&c);
  /* a damaged cache is made again */
  cr_assert_eq(truncate(path, file_size(path) / 2), 0);
  gs_pointcloud_set d;
  cr_assert_eq(gs_pointcloud_cache_load(path, &o, 0, 20, &d, &made, &err), 0, "%s", err.msg);
  cr_assert_eq(made, 1);
  gs_pointcloud_free(&a);
  gs_pointcloud_free(&b);
  gs_pointcloud_free(&d);
}

/* A file in the release layout, written through the HDF5 C API with the default (old) format.
 * Any dataset may be left out (NULL name). */
typedef struct ds {
  const char *name;
  hid_t type;  /* file and memory type (native) */
  int rank;
  hsize_t dims[3];
  const void *buf;
  int chunked; /* 1: chunked + gzip, as h5py writes with compression="gzip" */
} ds;

static void write_raw_h5(const char *path, const ds *d, int nd) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  for (int i = 0; i < nd; i++) {
    if (!d[i].name) continue;
    hid_t sp = H5Screate_simple(d[i].rank, d[i].dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    if (d[i].chunked) {
      hsize_t ch[3];
      for (int k = 0; k < d[i].rank; k++) ch[k] = d[i].dims[k] > 4 && k == 0 ? 4 : d[i].dims[k];
      H5Pset_chunk(pl, d[i].rank, ch);
      H5Pset_deflate(pl, 4);
    }
    hid_t t = d[i].type;
    hid_t x = H5Dcreate2(f, d[i].name, t, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    cr_assert_geq(x, 0, "%s", d[i].name);
    if (d[i].buf) cr_assert_geq(H5Dwrite(x, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, d[i].buf), 0);
    H5Dclose(x);
    H5Pclose(pl);
    H5Sclose(sp);
  }
  H5Fclose(f);
}

enum { MN = 12, MP = 32 }; /* a small release file: 12 clouds of 32 points */
static float mn_xyz[MN * MP * 3];
static int64_t mn_lab64[MN];
static uint8_t mn_lab8[MN];
static double mn_xyz64[MN * MP * 3];

static void mn_fill(void) {
  for (int i = 0; i < MN * MP * 3; i++) mn_xyz64[i] = mn_xyz[i] = (float)sin(i * 0.37);
  for (int i = 0; i < MN; i++) mn_lab8[i] = (uint8_t)(mn_lab64[i] = (i * 7) % 40);
}

static void mn_file(const char *path, const char *dname, hid_t dtype, int drank, hsize_t d0, hsize_t d1, hsize_t d2,
                    const char *lname, hid_t ltype, int lrank, hsize_t l0, hsize_t l1, const void *lbuf) {
  ds d[3] = {
      {dname, dtype, drank, {d0, d1, d2}, dtype == H5T_NATIVE_DOUBLE ? (const void *)mn_xyz64 : (const void *)mn_xyz, 1},
      {lname, ltype, lrank, {l0, l1, 0}, lbuf, 0},
      {"normal", H5T_NATIVE_FLOAT, 3, {MN, MP, 3}, mn_xyz, 0}};
  write_raw_h5(path, d, 3);
}

Test(pcfile, modelnet_layout) {
  char path[512];
  gs_pointcloud_set s;
  gs_error err = {0};
  mn_fill();
  /* ModelNet40's ply_data_*.h5 with int64 (n, 1) labels, compressed */
  tpath(path, "ply_data_train0.h5");
  mn_file(path, "data", H5T_NATIVE_FLOAT, 3, MN, MP, 3, "label", H5T_NATIVE_INT64, 2, MN, 1, mn_lab64);
  cr_assert_eq(gs_pointcloud_read(path, 0, 40, &s, &err), 0, "%s", err.msg);
  cr_assert(s.n == MN && s.points == MP && !s.subcat && !s.has_generator);
  cr_assert_eq(memcmp(s.xyz, mn_xyz, sizeof mn_xyz), 0);
  cr_assert_eq(memcmp(s.label, mn_lab8, MN), 0);
  cr_assert_eq(s.n_classes, 1 + 37); /* (i * 7) % 40 for i < 12: largest 37 */
  gs_pointcloud_free(&s);
  /* the first 8 points of each */
  cr_assert_eq(gs_pointcloud_read(path, 8, 40, &s, &err), 0, "%s", err.msg);
  cr_assert_eq(s.points, 8);
  for (int i = 0; i < MN; i++) cr_assert_eq(memcmp(s.xyz + i * 24, mn_xyz + i * MP * 3, 24 * sizeof(float)), 0);
  gs_pointcloud_free(&s);
  /* uint8 (n) labels and float64 coordinates */
  tpath(path, "other.h5");
  mn_file(path, "data", H5T_NATIVE_DOUBLE, 3, MN, MP, 3, "label", H5T_NATIVE_UINT8, 1, MN, 0, mn_lab8);
  cr_assert_eq(gs_pointcloud_read(path, 0, 0, &s, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(s.xyz, mn_xyz, sizeof mn_xyz), 0);
  cr_assert_eq(memcmp(s.label, mn_lab8, MN), 0);
  gs_pointcloud_free(&s);
}

/* A bad file must fail with a message that names it and contains `what`. */
static void expect_error(const char *path, int points, int max_classes, const char *what) {
  gs_pointcloud_set s;
  gs_error err = {0};
  quiet_begin();
  int rc = gs_pointcloud_read(path, points, max_classes, &s, &err);
  quiet_end();
  cr_assert_eq(rc, -1, "%s was read without an error", path);
  cr_assert(strstr(err.msg, path), "the message does not name the file: %s", err.msg);
  cr_assert(strstr(err.msg, what), "the message does not say \"%s\": %s", what, err.msg);
  cr_assert_null(s.xyz);
}

Test(pcfile, bad_release_files) {
  H5dont_atexit(); /* as in cache_truncated_or_bit_flipped */
  char path[512];
  mn_fill();
  hid_t F = H5T_NATIVE_FLOAT, I = H5T_NATIVE_INT64;
  tpath(path, "bad.h5");
  mn_file(path, "data", F, 3, MN, MP, 3, NULL, I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "no dataset 'label'");
  mn_file(path, "points", F, 3, MN, MP, 3, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "no dataset 'data'");
  mn_file(path, "data", F, 3, MN, MP * 3 / 2, 2, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "has shape (12, 48, 2), expected");
  mn_file(path, "data", F, 2, MN, MP * 3, 0, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "has shape (12, 96), expected");
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 2, MN / 2, 2, mn_lab64);
  expect_error(path, 0, 40, "dataset 'label' has shape (6, 2)");
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 1, MN - 1, 0, mn_lab64);
  expect_error(path, 0, 40, "'label' has 11 entries but 'data' has 12 clouds");
  mn_file(path, "data", H5T_NATIVE_INT, 3, MN, MP, 3, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "not floating point");
  mn_file(path, "data", F, 3, MN, MP, 3, "label", F, 1, MN, 0, mn_xyz);
  expect_error(path, 0, 40, "'label' is not integer");
  /* fewer points than asked for */
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 2048, 40, "have 32 points each, fewer than the 2048 asked for");
  /* labels out of range: above, and negative */
  expect_error(path, 0, 30, "the label of cloud 5 is 35, outside 0 .. 29");
  int64_t neg[MN];
  memcpy(neg, mn_lab64, sizeof neg);
  neg[3] = -1;
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 1, MN, 0, neg);
  expect_error(path, 0, 40, "the label of cloud 3 is -1");
  /* a NaN and an infinity */
  float keep = mn_xyz[(7 * MP + 5) * 3 + 1];
  mn_xyz[(7 * MP + 5) * 3 + 1] = NAN;
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "cloud 7, point 5 has a non-finite coordinate (nan)");
  mn_xyz[(7 * MP + 5) * 3 + 1] = INFINITY;
  mn_file(path, "data", F, 3, MN, MP, 3, "label", I, 1, MN, 0, mn_lab64);
  expect_error(path, 0, 40, "non-finite coordinate (inf)");
  mn_xyz[(7 * MP + 5) * 3 + 1] = keep;
  /* a dataset claiming far more than the file holds (chunked, never written) */
  ds huge[2] = {{"data", F, 3, {1000000, 2048, 3}, NULL, 1}, {"label", H5T_NATIVE_UINT8, 1, {1000000}, NULL, 1}};
  write_raw_h5(path, huge, 2);
  expect_error(path, 0, 40, "claims 24576000000 bytes");
  /* not HDF5 at all, empty, missing, a directory */
  write_bytes(path, "data,label\n1,2\n", 15);
  expect_error(path, 0, 40, "not a readable HDF5 file");
  write_bytes(path, "", 0);
  expect_error(path, 0, 40, "empty file");
  expect_error(tpath(path, "missing.h5"), 0, 40, "No such file");
  expect_error(tmpdir, 0, 40, "not a regular file");
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n ? *n : 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

/* Our cache truncated and with bytes flipped all over: each read is an error naming the file,
 * or (a byte nothing uses) the original set; never a crash, never other data. */
Test(pcfile, cache_truncated_or_bit_flipped, .timeout = 120) {
  /* HDF5 1.10.8 leaks free-list blocks when a metadata checksum fails and then prints "HDF5:
   * infinite loop closing library" at exit (test_runfile.c): keep that out of the output.
   * Nothing is left open (checked after every read). */
  H5dont_atexit();
  char path[512], bad[512];
  gs_shapes_options o = opts(48);
  gs_pointcloud_set s, r;
  gs_error err = {0};
  cr_assert_eq(gs_pointcloud_generate(&o, 0, 24, &s, &err), 0, "%s", err.msg);
  tpath(path, "good.h5");
  tpath(bad, "bad.h5");
  cr_assert_eq(gs_pointcloud_write(path, &s, &err), 0, "%s", err.msg);
  size_t n;
  char *img = slurp(path, &n);
  size_t cuts[] = {8, 47, 300, n / 8, n / 4, n / 2, 3 * n / 4, n - 64, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_bytes(bad, img, cuts[i]);
    expect_error(bad, 0, 8, "");
  }
  int errors = 0, same = 0;
  quiet_begin();
  for (size_t off = 0; off < n; off += 37) {
    img[off] ^= 0x5a;
    write_bytes(bad, img, n);
    img[off] ^= 0x5a;
    gs_error e = {0};
    int rc = gs_pointcloud_read(bad, 0, 8, &r, &e);
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) {
      quiet_end();
      cr_assert_fail("flip at %zu: %zd HDF5 objects left open (%s)", off, open_ids, rc ? e.msg : "read");
    }
    if (rc != 0) {
      if (!strstr(e.msg, bad)) {
        quiet_end();
        cr_assert_fail("flip at %zu: the message does not name the file: %s", off, e.msg);
      }
      errors++;
      continue;
    }
    int eq = r.n == s.n && r.points == s.points && r.subcat &&
             !memcmp(r.xyz, s.xyz, sizeof(float) * 3 * (size_t)s.n * (size_t)s.points) && !memcmp(r.label, s.label, 24) &&
             !memcmp(r.subcat, s.subcat, 24) && !memcmp(&r.gen, &s.gen, sizeof r.gen);
    gs_pointcloud_free(&r);
    if (!eq) {
      quiet_end();
      cr_assert_fail("flip at %zu: read without error but the set differs", off);
    }
    same++;
  }
  quiet_end();
  cr_log_info("%d flips: %d errors, %d harmless", errors + same, errors, same);
  /* the values (most of the file) are covered by the checksum */
  cr_assert_gt(errors, (errors + same) * 2 / 3);
  free(img);
  gs_pointcloud_free(&s);
}
