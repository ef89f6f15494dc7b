// libsodium must be initialised once before use; every crypto/ entry point calls this first.
#pragma once

#include <sodium.h>

#include "common/check.h"

namespace conclave::crypto {

inline void ensure_sodium() {
  // sodium_init is thread-safe and idempotent: 0 the first time, 1 after, -1 on failure.
  static const int ready = sodium_init();
  CONCLAVE_CHECK(ready >= 0, "libsodium failed to initialise");
}

}  // namespace conclave::crypto
