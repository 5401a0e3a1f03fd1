/* A tiny labelled image set in memory (3 classes told apart by which rows are bright), for the
 * model tests: no files, no data set download. */
#ifndef GS_TEST_TINYDATA_H
#define GS_TEST_TINYDATA_H
#include <stdlib.h>
#include <string.h>

#include "gensweep/data/data.h"

/* a tiny labelled data set in memory */
static inline void tiny_data(gs_dataset *ds, int n) {
  memset(ds, 0, sizeof *ds);
  gs_imageset *s[2] = {&ds->train, &ds->test};
  for (int k = 0; k < 2; k++) {
    s[k]->n = n;
    s[k]->h = s[k]->w = 28;
    s[k]->dim = 784;
    s[k]->n_classes = 3;
    s[k]->pix = malloc((size_t)n * 784);
    s[k]->labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
      s[k]->labels[i] = (uint8_t)(i % 3);
      for (int p = 0; p < 784; p++) s[k]->pix[(long)i * 784 + p] = (uint8_t)(((p / 28) % 3 == i % 3) ? 200 + i % 50 : (p * 7 + i) % 40);
    }
  }
}

static inline void free_data(gs_dataset *ds) {
  free(ds->train.pix);
  free(ds->train.labels);
  free(ds->test.pix);
  free(ds->test.labels);
}

#endif
