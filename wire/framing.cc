// Length-prefixed framing: 4-byte big-endian payload length, then the payload.
#include "wire/framing.h"

#include <cstdint>
#include <limits>

#include "common/check.h"

namespace conclave::wire {

std::string frame(std::string_view payload) {
  // Callers frame encoder output, which is far below 4 GiB; a longer payload would silently
  // wrap the length and desynchronise the stream.
  CONCLAVE_CHECK(payload.size() <= std::numeric_limits<uint32_t>::max(),
                 "frame payload does not fit a 32-bit length");
  const auto length = static_cast<uint32_t>(payload.size());
  std::string framed;
  framed.reserve(kFrameHeaderBytes + payload.size());
  framed.push_back(static_cast<char>((length >> 24) & 0xff));
  framed.push_back(static_cast<char>((length >> 16) & 0xff));
  framed.push_back(static_cast<char>((length >> 8) & 0xff));
  framed.push_back(static_cast<char>(length & 0xff));
  framed.append(payload);
  return framed;
}

FrameReader::FrameReader(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameReader::feed(std::string_view bytes) {
  // After an error the stream is garbage: keep nothing, so a peer that keeps sending cannot
  // grow our memory.
  if (failed_) return;
  // Drop the payloads already handed out before growing the buffer, so that it only ever holds
  // unconsumed bytes (at most one partial frame plus what the caller fed since its last next()).
  if (offset_ > 0) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<std::string>> FrameReader::next() {
  if (failed_) return error_;
  if (buffered_bytes() < kFrameHeaderBytes) return std::optional<std::string>();

  const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data() + offset_);
  const size_t length = (static_cast<size_t>(header[0]) << 24) |
                        (static_cast<size_t>(header[1]) << 16) |
                        (static_cast<size_t>(header[2]) << 8) | static_cast<size_t>(header[3]);
  if (length == 0 || length > max_frame_bytes_) {
    // The stream cannot be resynchronised: fail for good and release the buffer.
    failed_ = true;
    error_ = length == 0
                 ? make_error(ErrorCode::malformed, "frame: length is 0")
                 : make_error(ErrorCode::too_large,
                              "frame: length " + std::to_string(length) +
                                  " bytes is over the limit of " +
                                  std::to_string(max_frame_bytes_));
    std::string().swap(buffer_);
    offset_ = 0;
    return error_;
  }
  if (buffered_bytes() < kFrameHeaderBytes + length) return std::optional<std::string>();

  std::string payload = buffer_.substr(offset_ + kFrameHeaderBytes, length);
  offset_ += kFrameHeaderBytes + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return std::optional<std::string>(std::move(payload));
}

}  // namespace conclave::wire
