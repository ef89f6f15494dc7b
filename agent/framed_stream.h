// FramedStream: one libuv stream (TCP or Unix socket) that carries length-prefixed frames.
//
// Owns its uv handle and itself: created with `new`, it deletes itself after close() once libuv
// has released the handle, and calls `on_closed` first so the owner can forget it. Inbound
// bytes go through wire::FrameReader; every complete payload is handed to `on_frame`. Outbound
// frames are queued with uv_write up to `max_queued_bytes`; beyond that send() refuses (the
// caller counts the drop) rather than growing memory without bound. Back-pressure: once half
// of that is queued the stream stops reading (a peer that sends requests without reading the
// answers is slowed to the pace it reads), and reads again when the queue has drained to a
// quarter.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "wire/framing.h"

namespace conclave::agent {

struct StreamLimits {
  size_t max_frame_bytes;
  size_t max_queued_bytes;
};

class FramedStream {
 public:
  using FrameHandler = std::function<void(FramedStream&, std::string payload)>;
  // `reason` is empty for an orderly close; `truncated_bytes` > 0 when the peer closed in the
  // middle of a frame.
  using CloseHandler =
      std::function<void(FramedStream&, const std::string& reason, size_t truncated_bytes)>;

  // Takes ownership of `handle` (allocated with new, already initialised and connected).
  FramedStream(uv_stream_t* handle, StreamLimits limits, FrameHandler on_frame,
               CloseHandler on_closed);

  void start_reading();
  // Queues one frame. Returns false (and sends nothing) when closed or over the queue limit.
  bool send(std::string_view payload);
  // Starts closing; on_closed runs later from the loop, then the object deletes itself.
  void close(const std::string& reason);

  // Whether send() of a payload this long would be queued (not refused for the queue limit).
  bool has_room_for(size_t payload_bytes) const {
    return !closing_ &&
           queued_bytes_ + payload_bytes + wire::kFrameHeaderBytes <= limits_.max_queued_bytes;
  }
  // "host:port" of a TCP peer ("unknown" for another kind of stream, or when it is gone).
  std::string peer_address() const;
  bool closing() const { return closing_; }
  size_t queued_bytes() const { return queued_bytes_; }
  uint64_t id() const { return id_; }
  void set_id(uint64_t id) { id_ = id; }

 private:
  ~FramedStream() = default;
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buffer);
  static void on_read(uv_stream_t* stream, ssize_t count, const uv_buf_t* buffer);
  static void on_write(uv_write_t* request, int status);
  static void on_handle_closed(uv_handle_t* handle);

  uv_stream_t* handle_;
  StreamLimits limits_;
  wire::FrameReader reader_;
  FrameHandler on_frame_;
  CloseHandler on_closed_;
  std::string close_reason_;
  size_t truncated_bytes_ = 0;
  size_t queued_bytes_ = 0;
  bool closing_ = false;
  bool reading_ = false;
  bool paused_for_backpressure_ = false;
  uint64_t id_ = 0;
  char read_buffer_[64 * 1024];
};

}  // namespace conclave::agent
