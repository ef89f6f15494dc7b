// Length-prefixed framing for byte streams (agent-to-agent TCP, the client Unix socket).
//
// A frame is a 4-byte big-endian payload length followed by the payload. A length of 0 or above
// kMaxFrameBytes is a protocol error: the stream cannot be resynchronised, so the reader turns
// it into an error and the connection must be closed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace conclave::wire {

constexpr size_t kFrameHeaderBytes = 4;

// Returns the payload with its length prefix.
std::string frame(std::string_view payload);

class FrameReader {
 public:
  explicit FrameReader(size_t max_frame_bytes);

  // Appends bytes read from the stream.
  void feed(std::string_view bytes);

  // The next complete payload, std::nullopt when more bytes are needed, or an error (too_large
  // or malformed) after which the reader stays failed.
  Result<std::optional<std::string>> next();

  // Bytes of an incomplete frame still buffered (non-zero at end of stream = truncated frame).
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  size_t max_frame_bytes_;
  std::string buffer_;
  size_t offset_ = 0;   // start of the unconsumed bytes in buffer_
  bool failed_ = false;
  Error error_;         // the first error, repeated by every later next()
};

}  // namespace conclave::wire
