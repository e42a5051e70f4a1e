/*
 * run_lock.h — one clipc train per run folder: an exclusive flock on
 * DIR/lock, held for the whole run (the kernel releases it when the process
 * ends, also on kill -9).  The file holds the owner's pid for the message.
 */
#ifndef CLIPC_TRAIN_RUN_LOCK_H
#define CLIPC_TRAIN_RUN_LOCK_H

#include "clipc.h"

/* Locks out_dir (which exists); *fd receives the lock's descriptor.  A
 * folder another process holds is refused at once. */
clipc_status run_lock_take(const char *out_dir, int *fd);
/* Releases a lock taken by run_lock_take (fd < 0: none). */
void run_lock_release(int fd);

#endif
