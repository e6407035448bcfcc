/* Plan validation: everything is checked here, in the parent, before clone,
 * so that the child can walk the buffer without checking anything again. */
#include <errno.h>
#include <string.h>

#include "executor.h"

static uint32_t read_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

const char *nsb_next_str(const char *s) { return s + strlen(s) + 1; }

/* How many strings each opcode takes; -1 for a variable count. */
static int expected_strings(uint32_t opcode) {
  switch (opcode) {
  case NSB_OP_REMOVE_ON_EXIT:
  case NSB_OP_TREE_CLONE:
  case NSB_OP_PIVOT_ROOT:
  case NSB_OP_MKDIR_P:
  case NSB_OP_MKFILE_P:
  case NSB_OP_MOVE_MOUNT:
  case NSB_OP_READONLY:
  case NSB_OP_MASK_FILE:
  case NSB_OP_HOSTNAME:
  case NSB_OP_CHDIR:
  case NSB_OP_OPEN_STDIO:
  case NSB_OP_SECCOMP:
  case NSB_OP_DOMAINNAME:
    return 1;
  case NSB_OP_SYMLINK:
    return 2;
  case NSB_OP_MOUNT:
    return 4;
  case NSB_OP_PROC_MOUNT:
  case NSB_OP_LOOPBACK_UP:
  case NSB_OP_UMASK:
  case NSB_OP_KEEP_FD:
  case NSB_OP_DROP_CAPS:
  case NSB_OP_TIME_OFFSET:
    return 0;
  case NSB_OP_EXEC:
    return -1;
  default:
    return -2;
  }
}

uint32_t nsb_plan_op(const struct nsb_plan *plan, uint32_t offset,
                     struct nsb_op *op) {
  const uint8_t *p = plan->buf + offset;
  uint32_t size = read_u32(p + 4);
  op->opcode = read_u32(p);
  op->arg0 = read_u32(p + 8);
  op->arg1 = read_u32(p + 12);
  op->nstr = read_u32(p + 16);
  op->str = (const char *)(p + NSB_OP_HEADER_SIZE);
  return offset + size;
}

static int validate_op(const struct nsb_plan *plan, uint32_t offset,
                       uint32_t index, int *seen_exec) {
  const uint8_t *p = plan->buf + offset;
  if (plan->len - offset < NSB_OP_HEADER_SIZE)
    return -EINVAL;
  uint32_t size = read_u32(p + 4);
  if (size < NSB_OP_HEADER_SIZE || size % 4 != 0 || size > plan->len - offset)
    return -EINVAL;
  struct nsb_op op;
  nsb_plan_op(plan, offset, &op);
  int want = expected_strings(op.opcode);
  if (want == -2)
    return -ENOSYS; /* an unknown opcode is fatal */
  if (want >= 0 && op.nstr != (uint32_t)want)
    return -EINVAL;
  if (*seen_exec)
    return -EINVAL; /* exec must be the last op */
  /* Every string must end inside the op. */
  const char *s = op.str, *end = (const char *)p + size;
  for (uint32_t i = 0; i < op.nstr; i++) {
    const char *nul = memchr(s, 0, (size_t)(end - s));
    if (!nul)
      return -EINVAL;
    s = nul + 1;
  }
  switch (op.opcode) {
  case NSB_OP_TREE_CLONE:
  case NSB_OP_PROC_MOUNT:
  case NSB_OP_MOVE_MOUNT:
    if (op.arg0 >= NSB_MAX_SLOTS)
      return -EINVAL;
    break;
  case NSB_OP_EXEC:
    if (op.arg0 == 0 || op.arg0 > NSB_MAX_ARGS || op.arg1 > NSB_MAX_ARGS ||
        op.nstr <= op.arg0 + op.arg1)
      return -EINVAL;
    *seen_exec = 1;
    break;
  case NSB_OP_OPEN_STDIO:
    if (op.arg0 > 2 || op.arg1 > NSB_STDIO_APPEND)
      return -EINVAL;
    break;
  case NSB_OP_KEEP_FD:
    if (op.arg0 < 3 || op.arg0 > 65535)
      return -EINVAL;
    break;
  case NSB_OP_SECCOMP:
    /* The child decodes it without checking: every digit is checked here. */
    if (op.arg0 == 0 || op.arg0 > NSB_MAX_FILTER ||
        strlen(op.str) != (size_t)op.arg0 * 16)
      return -EINVAL;
    for (const char *h = op.str; *h; h++)
      if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
        return -EINVAL;
    break;
  default:
    break;
  }
  (void)index;
  return 0;
}

int nsb_plan_parse(const uint8_t *buf, uint32_t len, struct nsb_plan *plan) {
  if (!buf || len < NSB_HEADER_SIZE || len > NSB_MAX_PLAN_SIZE)
    return -EINVAL;
  if (read_u32(buf) != NSB_PLAN_MAGIC)
    return -EINVAL;
  if (read_u32(buf + 4) != NSB_PLAN_VERSION)
    return -EPROTO;
  if (read_u32(buf + 8) != len)
    return -EINVAL;
  plan->buf = buf;
  plan->len = len;
  plan->op_count = read_u32(buf + 12);
  plan->clone_flags = read_u32(buf + 16);
  plan->userns_fd = (int32_t)read_u32(buf + 20);
  plan->flags = read_u32(buf + 24);
  /* A flag this library does not know would be silently ignored. */
  if (plan->flags & ~NSB_KNOWN_FLAGS)
    return -EINVAL;
  if (plan->op_count > NSB_MAX_OPS)
    return -E2BIG;
  uint32_t offset = NSB_HEADER_SIZE;
  int seen_exec = 0;
  for (uint32_t i = 0; i < plan->op_count; i++) {
    int rc = validate_op(plan, offset, i, &seen_exec);
    if (rc < 0)
      return rc;
    offset = read_u32(buf + offset + 4) + offset;
  }
  if (offset != len || !seen_exec)
    return -EINVAL;
  return 0;
}
