#include "agent/framed_stream.h"

#include "agent/address.h"

#include <cstring>
#include <memory>

namespace conclave::agent {
namespace {

// One queued write: the request and the bytes it points at live together until the callback.
struct WriteRequest {
  uv_write_t request;
  std::string bytes;
  FramedStream* stream;
};

}  // namespace

FramedStream::FramedStream(uv_stream_t* handle, StreamLimits limits, FrameHandler on_frame,
                           CloseHandler on_closed)
    : handle_(handle),
      limits_(limits),
      reader_(limits.max_frame_bytes),
      on_frame_(std::move(on_frame)),
      on_closed_(std::move(on_closed)) {
  handle_->data = this;
}

void FramedStream::start_reading() {
  if (closing_) return;
  const int rc = uv_read_start(handle_, &FramedStream::on_alloc, &FramedStream::on_read);
  if (rc != 0) {
    close(std::string("cannot read: ") + uv_strerror(rc));
    return;
  }
  reading_ = true;
}

std::string FramedStream::peer_address() const {
  if (handle_->type != UV_TCP) return "unknown";
  sockaddr_storage address{};
  int length = sizeof address;
  if (uv_tcp_getpeername(reinterpret_cast<const uv_tcp_t*>(handle_),
                         reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return "unknown";
  }
  return format_address(reinterpret_cast<const sockaddr*>(&address));
}

bool FramedStream::send(std::string_view payload) {
  if (closing_) return false;
  std::string framed = wire::frame(payload);
  if (queued_bytes_ + framed.size() > limits_.max_queued_bytes) return false;
  auto* write = new WriteRequest{};
  write->bytes = std::move(framed);
  write->stream = this;
  write->request.data = write;
  uv_buf_t buffer = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
  const int rc = uv_write(&write->request, handle_, &buffer, 1, &FramedStream::on_write);
  if (rc != 0) {
    delete write;
    close(std::string("write failed: ") + uv_strerror(rc));
    return false;
  }
  queued_bytes_ += write->bytes.size();
  if (reading_ && queued_bytes_ > limits_.max_queued_bytes / 2) {
    (void)uv_read_stop(handle_);  // always 0 (libuv documents it cannot fail)
    reading_ = false;
    paused_for_backpressure_ = true;
  }
  return true;
}

void FramedStream::close(const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = reason;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), &FramedStream::on_handle_closed);
}

void FramedStream::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer) {
  auto* self = static_cast<FramedStream*>(handle->data);
  *buffer = uv_buf_init(self->read_buffer_, sizeof(self->read_buffer_));
}

void FramedStream::on_read(uv_stream_t* stream, ssize_t count, const uv_buf_t* buffer) {
  auto* self = static_cast<FramedStream*>(stream->data);
  if (count < 0) {
    // EOF or a reset. Bytes of an unfinished frame mean the peer stopped mid-frame.
    self->truncated_bytes_ = self->reader_.buffered_bytes();
    self->close(count == UV_EOF ? "" : std::string("read failed: ") + uv_strerror(count));
    return;
  }
  self->reader_.feed(std::string_view(buffer->base, static_cast<size_t>(count)));
  while (!self->closing_) {
    auto next = self->reader_.next();
    if (!next.ok()) {
      // An impossible length: the stream cannot be resynchronised, so it is closed.
      self->close(next.error().message);
      return;
    }
    if (!next.value().has_value()) break;
    self->on_frame_(*self, std::move(*next.value()));
  }
}

void FramedStream::on_write(uv_write_t* request, int) {
  std::unique_ptr<WriteRequest> write(static_cast<WriteRequest*>(request->data));
  FramedStream* self = write->stream;
  self->queued_bytes_ -= write->bytes.size();
  if (self->paused_for_backpressure_ && !self->closing_ &&
      self->queued_bytes_ <= self->limits_.max_queued_bytes / 4) {
    self->paused_for_backpressure_ = false;
    self->start_reading();
  }
}

void FramedStream::on_handle_closed(uv_handle_t* handle) {
  auto* self = static_cast<FramedStream*>(handle->data);
  self->on_closed_(*self, self->close_reason_, self->truncated_bytes_);
  // The handle was allocated as the concrete uv type; both variants are freed the same way.
  if (handle->type == UV_TCP) {
    delete reinterpret_cast<uv_tcp_t*>(handle);
  } else {
    delete reinterpret_cast<uv_pipe_t*>(handle);
  }
  delete self;
}

}  // namespace conclave::agent
