/* libFuzzer target: the experiment-file loader (inih + key table + grid expansion) on arbitrary
 * bytes. A loaded sweep is also planned, so id building and formatting run on what got through.
 * Built by scripts/fuzz; tests/fuzz/replay.c runs the same entry on the committed inputs. */
#include <stdint.h>
#include <stdio.h>

#include "gensweep/models/model.h"
#include "gensweep/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gs_config_max_runs = 20000; /* a 250-byte grid may ask for 10^6 runs: seconds per input, not a bug */
  gs_sweep sw;
  gs_error err;
  if (gs_sweep_load_mem("fuzz.ini", gs_models_vocabulary(), data, size, &sw, &err) == 0) {
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    if (null && sw.nruns <= 4096) gs_sweep_print_plan(&sw, NULL, null);
    gs_sweep_free(&sw);
  }
  return 0;
}
