/* One entry point for every synchronous call from Deno. Deno compiles a
 * fast-call trampoline for each symbol a library is opened with, about
 * 0.3 ms apiece at start-up: twelve symbols cost nsbuild 4.5 ms before its
 * first sandbox, one costs 0.4 ms. Each call names its operation; the
 * arguments keep the meaning they have in the functions below. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "executor.h"

int32_t nsb_call(int32_t call, int32_t a, int32_t b, const uint8_t *in,
                 uint32_t in_len, uint8_t *out, uint32_t out_len) {
  switch (call) {
  case NSB_CALL_ABI_VERSION:
    return nsb_abi_version();
  case NSB_CALL_VALIDATE:
    return in ? nsb_validate(in, in_len) : -EINVAL;
  case NSB_CALL_SPAWN:
    if (!in || !out || out_len < 3 * sizeof(int32_t))
      return -EINVAL;
    return nsb_spawn(in, in_len, (int32_t *)(void *)out);
  case NSB_CALL_RUN_HELPERS:
    return in ? nsb_run_helpers(a, in, in_len) : -EINVAL;
  case NSB_CALL_WRITE_MAPS: {
    /* in: the uid map, a NUL, the gid map. */
    const uint8_t *nul = in ? memchr(in, 0, in_len) : 0;
    if (!nul)
      return -EINVAL;
    uint32_t uid_len = (uint32_t)(nul - in);
    return nsb_write_maps(a, in, uid_len, nul + 1, in_len - uid_len - 1, b);
  }
  case NSB_CALL_OPEN_USERNS:
    return nsb_open_userns(a);
  case NSB_CALL_RELEASE:
    return nsb_release(a, b);
  case NSB_CALL_READ_RECORDS:
    return out ? nsb_read_records(a, out, out_len) : -EINVAL;
  case NSB_CALL_KILL:
    return nsb_kill(a, b);
  case NSB_CALL_CLOSE:
    return nsb_close(a);
  case NSB_CALL_MKFIFO:
    if (!in || in_len == 0 || in[in_len - 1] != 0)
      return -EINVAL;
    return nsb_mkfifo((const char *)in, (uint32_t)a);
  default:
    return -ENOSYS;
  }
}
