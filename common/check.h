// Invariant assertions that stay on in every build type.
//
// CONCLAVE_CHECK is for broken invariants only: a failed check means the process can no longer
// trust its own state, so it prints where and why and aborts at once. Expected failures (bad
// input, a peer that went away, a full queue) are values (see result.h), never checks.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CONCLAVE_CHECK(condition, message)                                              \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "conclave: invariant broken at %s:%d: %s (%s)\n", __FILE__, \
                   __LINE__, #condition, message);                                      \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)
