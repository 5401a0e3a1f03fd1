/* Point-set data sets (data/data.h): gs_dataset_from_points keeps points, labels and
 * sub-categories of a sample together through the subset, the split and the test size; batches
 * copy the points as they are; the shape says point sets, so an image model's data check refuses
 * them with both kinds named; an empty set is refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "gensweep/data/data.h"

/* n clouds of N points: point j of cloud i is (i, j, -i), label i % 3, sub-category i % 2 */
static gs_pointsets_in clouds(long n, int N) {
  gs_pointsets_in s = {.n = n, .points = malloc(sizeof(float) * n * N * 3), .labels = malloc(n), .subcats = malloc(n)};
  for (long i = 0; i < n; i++) {
    s.labels[i] = (uint8_t)(i % 3);
    s.subcats[i] = (uint8_t)(i % 2);
    for (int j = 0; j < N; j++) {
      float *p = s.points + (i * N + j) * 3;
      p[0] = (float)i, p[1] = (float)j, p[2] = (float)-i;
    }
  }
  return s;
}

Test(pointsets, subset_split_and_test_size_keep_each_sample_together) {
  gs_dataset ds;
  gs_error err = {0};
  gs_data_options o = {.train_size = 40, .test_size = 7, .val_split = 0.25, .seed = 3};
  cr_assert_eq(gs_dataset_from_points("t", 5, clouds(60, 5), clouds(10, 5), &o, &ds, &err), 0, "%s", err.msg);
  cr_assert_eq(ds.train.n, 30);
  cr_assert_eq(ds.val.n, 10);
  cr_assert_eq(ds.test.n, 7);
  cr_assert_eq(ds.train.n_classes, 3);
  const gs_imageset *sets[3] = {&ds.train, &ds.val, &ds.test};
  for (int k = 0; k < 3; k++) {
    const gs_imageset *s = sets[k];
    cr_assert_null(s->pix);
    cr_assert_eq(s->h, 5);
    cr_assert_eq(s->w, 3);
    cr_assert_eq(s->dim, 15);
    for (long i = 0; i < s->n; i++) {
      long orig = (long)s->points[i * 15]; /* the cloud's index, in its x */
      cr_assert_eq(s->labels[i], orig % 3, "set %d sample %ld: label of another cloud", k, i);
      cr_assert_eq(s->subcats[i], orig % 2, "set %d sample %ld: sub-category of another cloud", k, i);
      for (int j = 0; j < 5; j++) cr_assert_eq(s->points[i * 15 + j * 3 + 1], (float)j);
    }
  }
  /* batches: the points as they are */
  int32_t idx[2] = {4, 1};
  float x[30], onehot[6];
  gs_imageset_batch(&ds.train, idx, 2, x, onehot);
  cr_assert_eq(memcmp(x, ds.train.points + 4 * 15, sizeof(float) * 15), 0);
  cr_assert_eq(memcmp(x + 15, ds.train.points + 1 * 15, sizeof(float) * 15), 0);
  cr_assert_eq(onehot[ds.train.labels[4]], 1.0f);
  /* the shape: point sets; an image model refuses them */
  gs_sample_shape sh = gs_imageset_shape(&ds.train);
  cr_assert_eq(sh.kind, GS_SAMPLES_POINTS);
  cr_assert_eq(sh.dims[0], 5);
  gs_data_needs images = {.kind = GS_SAMPLES_IMAGES};
  cr_assert_eq(gs_data_check(&sh, &images, "vae", &err), -1);
  cr_assert(strstr(err.msg, "vae needs images") && strstr(err.msg, "point sets of 5 points"), "%s", err.msg);
  gs_data_needs points = {.kind = GS_SAMPLES_POINTS, .labels = 1};
  cr_assert_eq(gs_data_check(&sh, &points, "pc_ae", &err), 0, "%s", err.msg);
  gs_dataset_free(&ds);
}

Test(pointsets, bad_sizes_are_refused_and_freed) {
  gs_dataset ds;
  gs_error err = {0};
  gs_data_options big = {.train_size = 61};
  cr_assert_eq(gs_dataset_from_points("t", 4, clouds(60, 4), clouds(10, 4), &big, &ds, &err), -1);
  cr_assert(strstr(err.msg, "train_size 61 is larger than the 60"), "%s", err.msg);
  gs_data_options bigt = {.test_size = 11};
  cr_assert_eq(gs_dataset_from_points("t", 4, clouds(60, 4), clouds(10, 4), &bigt, &ds, &err), -1);
  cr_assert(strstr(err.msg, "test_size 11"), "%s", err.msg);
  gs_pointsets_in none = {0};
  cr_assert_eq(gs_dataset_from_points("t", 4, none, clouds(10, 4), NULL, &ds, &err), -1);
  cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
}
