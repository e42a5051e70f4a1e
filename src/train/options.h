/*
 * options.h — the training options inside the library (options.c): as JSON
 * and back, and the checks a run starts with.  The table itself is public
 * (clipc_train_options in clipc.h).
 */
#ifndef CLIPC_TRAIN_OPTIONS_H
#define CLIPC_TRAIN_OPTIONS_H

#include <cJSON.h>
#include "clipc.h"

/* The stored options (and the model config, when cfg) as a JSON object;
 * malloc'ed, NULL when out of memory. */
char *train_opts_to_json(const clipc_train_opts *o, const clipc_config *cfg);
/* The same with the paths (data, image_root, cache, init) absolute, as a run
 * stores them: a run can then be resumed from any working directory. */
char *train_opts_to_json_abs(const clipc_train_opts *o, const clipc_config *cfg);
/* Fills the stored options of *o from JSON; strings point into *keep (free
 * with cJSON_Delete).  `where` names the source in errors. */
clipc_status train_opts_from_json(const char *json, const char *where, clipc_train_opts *o, cJSON **keep);
/* Range and consistency checks of a run's options. */
clipc_status train_opts_check(const clipc_train_opts *o);

#endif
