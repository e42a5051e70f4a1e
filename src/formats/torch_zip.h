/*
 * torch_zip.h — PyTorch's zip checkpoints (torch.save since 1.6: .pt, .pth,
 * .bin) and TorchScript archives (torch.jit.save, e.g. OpenAI's ViT-B-32.pt)
 * read as the same tensor list as a safetensors file (st_file), without
 * Python and without executing anything (see pickle.h).
 */
#ifndef CLIPC_FORMATS_TORCH_ZIP_H
#define CLIPC_FORMATS_TORCH_ZIP_H

#include <stddef.h>
#include "clipc.h"
#include "formats/safetensors.h"

/* Parses the archive buf[0..len) (which must outlive *f: stored storages
 * are used in place) into *f: one st_tensor per tensor reachable from the
 * pickle's root, named by its dict keys / attribute path joined with '.'
 * (OpenAI's state-dict names for both checkpoint kinds).  `name` is used in
 * messages.  On error *f is empty (st_close is safe).  Fuzzing entry point. */
clipc_status torch_zip_parse(const void *buf, size_t len, const char *name, st_file *f);

#endif
