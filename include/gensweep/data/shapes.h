/* Labelled synthetic shapes: surface point clouds of 8 classes, each with 2-3 sub-categories
 * (issue 12, point 1). ShapeNet is not reachable from the machines this runs on, so the study's
 * data is generated; io/pointcloud_h5.h caches it in the ModelNet/ShapeNet HDF5 layout.
 *
 * Cloud i (a global index, 0, 1, 2, ...) depends only on the options and i: its class is
 * i mod 8, its sub-category (i div 8) mod S (S the class's count: 2 or 3), so any 48
 * consecutive clouds hold every (class, sub-category) pair and the classes are balanced to one
 * cloud in every prefix. Each cloud draws from four streams of its own, gs_rng_seed(seed, i,
 * GS_SHAPES_RNG + k) for k = 0 parameters (jitter, anisotropy, scale: always 7 draws),
 * 1 surface points, 2 rotation (always 3 draws), 3 noise (3 N normals when noise > 0): cloud i
 * is the same bits whatever n is and however the clouds are split between calls or ranks, and
 * changing the rotation or the noise leaves the other streams' draws alone.
 *
 * Classes, sub-categories and canonical shapes (canonical axis z; p the shape parameters of
 * gs_shape_info.param; each sub-category's ratio parameters are the values below times
 * exp(U(-0.1, 0.1)), so a sub-category is a tight cluster, apart from its siblings). The last
 * two columns are measured ranges of e1 = sqrt(l2/l1) and e2 = sqrt(l3/l2), l1 >= l2 >= l3 the
 * eigenvalues of a cloud's covariance ("long" is e1 small, "flat" e2 small), over 20-30 clouds
 * of each sub-category under the default options and uniform random rotations (N = 1024):
 * within every class the sub-categories occupy disjoint ranges of e1 or of e2, which
 * tests/unit/test_shapes.c checks.
 *
 *   class       sub-category  canonical surface (closed)                             e1         e2
 *   0 sphere    0 full        unit sphere                                          .92-.99    .85-.99
 *               1 hemisphere  upper half of the unit sphere + base disc at z = 0   .84-.99    .55-.73
 *   1 cube      0 cube        box, half-sides p = (1, 1, 1)                        .88-1.0    .83-.99
 *               1 slab        box, half-sides (1, 1, 0.3)                          .84-.98    .37-.46
 *               2 bar         box, half-sides (0.3, 0.3, 1)                        .34-.42    .82-1.0
 *   2 cylinder  0 short       radius 1, half-height p1 = 0.3 (a disc)              .83-.99    .39-.53
 *               1 tall        radius 1, half-height p1 = 2                         .46-.61    .88-1.0
 *   3 cone      0 flat        base radius 1 at z = 0, apex at z = p1 = 0.5         .81-.98    .22-.28
 *               1 tall        base radius 1 at z = 0, apex at z = p1 = 3           .60-.87    .84-.98
 *   4 torus     0 thin        major radius 1, tube radius p1 = 0.15                .84-.99    .13-.17
 *               1 thick       major radius 1, tube radius p1 = 0.45                .86-.99    .32-.47
 *   5 pyramid   0 squat       square base of half-side 1 at z = 0, apex z = p1 = 0.6  .83-1.0 .22-.30
 *               1 tall        the same with apex z = p1 = 5                        .42-.60    .85-.99
 *               2 tetrahedron regular, edge 2, base at z = 0 (not jittered)        .90-.98    .90-1.0
 *   6 capsule   0 short       radius 1, cylinder half-length p1 = 0.6              .60-.79    .86-.99
 *               1 long        radius 1, cylinder half-length p1 = 2.5              .31-.39    .86-1.0
 *   7 ellipsoid 0 prolate     unit sphere stretched by semi-axes p = (1, 1, 2.5)   .42-.57    .87-1.0
 *               1 oblate      semi-axes (1, 1, 0.35)                               .90-.98    .40-.49
 *               2 triaxial    semi-axes (1, 0.55, 0.3)                             .49-.67    .52-.74
 * (Sphere and hemisphere have no ratio parameter: anisotropy alone spreads them.)
 *
 * How one cloud is made, in this order:
 *  1. Surface points uniform by area on the canonical surface, each with its unit normal: the
 *     part (face, cap, side) chosen with probability proportional to its area, then a uniform
 *     point on it in closed form: sphere caps by Archimedes (z uniform), discs by r = sqrt(u),
 *     triangles by s = sqrt(u1), p = (1-s) a + s (1-u2) b + s u2 c, the cone's side by the inverse
 *     CDF of the distance from the apex (t = sqrt(u)), the torus's tube angle by rejection against
 *     (R + rho cos t) / (R + rho).
 *  2. Anisotropy: the point is stretched by d = (d1, d2, d3), d_k = exp(U(-a, a)) (a the option;
 *     times the semi-axes for the ellipsoid). A stretch is not area-preserving, so each point is
 *     kept with probability J / Jmax, J = |(d2 d3 n1, d1 d3 n2, d1 d2 n3)| the local area factor
 *     of the stretch at a point of normal n, Jmax = the largest pairwise product (rejection,
 *     drawing again until N points are kept): the kept points are uniform by area on the
 *     stretched surface (the test checks face fractions of a strongly stretched box).
 *  3. Rotation R: none (identity), about z (angle uniform), or any (a uniform random rotation:
 *     Shoemake's uniform unit quaternion from three uniforms).
 *  4. Normalisation: centred on the points' centroid and scaled so the farthest point is at
 *     distance 1; Gaussian noise of standard deviation `noise` (so in units of that radius) is
 *     added; then centred again on the centroid and scaled so the farthest point is at distance
 *     s = the cloud's random scale, U(scale_min, scale_max) <= 1. Every cloud therefore has
 *     centroid 0 and fits in the unit sphere, touching the sphere of radius s (s = 1 is
 *     PointNet's pc_normalize).
 * The points of a cloud come in random order, so its first k points are a uniform subsample.
 *
 * Arithmetic is in double, with floating-point contraction off in shapes.c, so the bits do not
 * depend on whether the compiler fuses multiply-adds (-march=native on an FMA machine); they do
 * depend on libm's sin, cos, exp and log, the same for every build against one glibc.
 *
 * Speed (Release, N = 2048, CPU time on one core of the 2-core development machine, which other
 * builds were loading): about 3,100 clouds per second with the default options (6.5 M points
 * per second; 3,000 with rotation any), 4,600 without noise, 8,400 without noise and anisotropy
 * (the stretch's rejection step and the Box-Muller normals are most of the cost); 4,000 clouds
 * take 1.3 s. */
#ifndef GENSWEEP_DATA_SHAPES_H
#define GENSWEEP_DATA_SHAPES_H
#include <stdint.h>

#include "gensweep/core/common.h"

/* Bump whenever a cloud's bits change for the same options: caches record it and are rebuilt. */
#define GS_SHAPES_VERSION 1

#define GS_SHAPES_CLASSES 8
#define GS_SHAPES_MAX_SUBCATS 3
#define GS_SHAPES_SUBCATS_TOTAL 19 /* sum of the classes' sub-category counts */
#define GS_SHAPES_DEFAULT_POINTS 2048
#define GS_SHAPES_MAX_POINTS (1 << 20)

/* Base purpose of the generator's random streams (purposes base .. base + 3). Far from the small
 * numbers of core/rng.h's enum, so that no other consumer's stream can coincide with these. */
#define GS_SHAPES_RNG 0x5348415045000000ULL /* "SHAPE" */

typedef enum {
  GS_SHAPES_ROTATE_NONE = 0, /* canonical axis along z */
  GS_SHAPES_ROTATE_Z = 1,    /* about z by a uniform angle */
  GS_SHAPES_ROTATE_ANY = 2,  /* uniform random rotation */
} gs_shapes_rotation;

typedef struct gs_shapes_options {
  int points;                  /* N per cloud; default 2048, 1 .. GS_SHAPES_MAX_POINTS */
  uint64_t seed;               /* data seed; default 0 */
  gs_shapes_rotation rotation; /* default none */
  double noise;                /* Gaussian noise std, in units of the cloud's radius; default 0.005, 0 .. 0.2 */
  double anisotropy;           /* a: each axis stretched by exp(U(-a, a)); default 0.1, 0 .. 0.5 */
  double scale_min, scale_max; /* the farthest point's distance s ~ U(scale_min, scale_max);
                                  default 0.8, 1; 0 < scale_min <= scale_max <= 1 */
} gs_shapes_options;

void gs_shapes_defaults(gs_shapes_options *o);
/* 0, or -1 with err naming the option that is out of range and its range. */
int gs_shapes_check(const gs_shapes_options *o, gs_error *err);

/* "none", "z", "any"; gs_shapes_rotation_parse returns -1 for anything else. */
const char *gs_shapes_rotation_name(gs_shapes_rotation r);
int gs_shapes_rotation_parse(const char *s, gs_shapes_rotation *out);

/* Names and counts of the table above. Out-of-range arguments give "?" and 0. */
const char *gs_shapes_class_name(int label);
int gs_shapes_subcats(int label);
const char *gs_shapes_subcat_name(int label, int subcat);
/* Sub-category numbered over all classes, 0 .. GS_SHAPES_SUBCATS_TOTAL - 1 in table order (what a
 * clustering is matched against); -1 when out of range. */
int gs_shapes_subcat_global(int label, int subcat);

/* Class and sub-category of cloud i. */
static inline int gs_shapes_label_of(long i) { return (int)(i % GS_SHAPES_CLASSES); }
int gs_shapes_subcat_of(long i);

/* How cloud i was made, for tests and figures: with q a point of the canonical surface
 * (param, table above), a cloud point is
 *   factor * (rot * (stretch ⊙ q) - centre) + noise term,
 * so with noise 0 it inverts exactly (to rounding). */
typedef struct gs_shape_info {
  int label, subcat;
  double param[3];    /* box: half-sides; ellipsoid: semi-axes; others: (1, p1, 0) as in the table */
  double stretch[3];  /* d of step 2 (the ellipsoid's semi-axes included) */
  double rot[3][3];   /* R, row-major */
  double centre[3];   /* subtracted before scaling, in the frame of rot * (stretch ⊙ q) */
  double factor;      /* overall scale */
  double scale;       /* s: the distance of the cloud's farthest point from its centroid */
} gs_shape_info;

/* Cloud `index` into points (N x 3, row-major); info may be NULL. Options must pass
 * gs_shapes_check (-1 with err otherwise). */
int gs_shapes_cloud(const gs_shapes_options *o, long index, float *points, gs_shape_info *info, gs_error *err);

/* Clouds first .. first + n - 1: points (n, N, 3), label (n) and subcat (n; per-class index,
 * table above). label and subcat may be NULL. */
int gs_shapes_generate(const gs_shapes_options *o, long first, long n, float *points, uint8_t *label,
                       uint8_t *subcat, gs_error *err);

#endif
