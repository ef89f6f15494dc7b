// libFuzzer target: decode_command on arbitrary bytes (built and run by scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_check.h"
#include "wire/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace conclave::wire;
  fuzz::check_decoder(fuzz::as_view(data, size), decode_command,
                      [](const auto& value) { return encode_command(value); });
  return 0;
}
