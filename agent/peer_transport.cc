#include "agent/peer_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>

#include "agent/address.h"
#include "raft/progress.h"
#include "wire/codec.h"

namespace conclave::agent {

// Raft's in-flight bound per follower, one more frame of the largest size (a snapshot chunk, a
// forward, a heartbeat) must fit the queue: what Raft believes is in flight is never dropped
// here for lack of room (raft/progress.h).
static_assert(raft::kMaxInflightBytes + wire::kMaxFrameBytes <=
              PeerTransport::kMaxQueuedBytesPerPeer);
namespace {

void delete_tcp_handle(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }

// A sealed frame is this much longer than its payload; both ends allow for it.
constexpr size_t kMaxSealedFrameBytes = wire::kMaxFrameBytes + crypto::kStreamFrameOverheadBytes;

// Hellos carry the sender's wall-clock time (the replay window compares clocks across hosts).
int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PeerTransport::PeerTransport(uv_loop_t* loop, std::string bind_host, const TrafficKeys& keys,
                             MessageHandler on_message, UnreachableHandler on_unreachable)
    : loop_(loop),
      bind_host_(std::move(bind_host)),
      keys_(keys),
      on_message_(std::move(on_message)),
      on_unreachable_(std::move(on_unreachable)) {}

PeerTransport::~PeerTransport() = default;

Status PeerTransport::listen(const std::string& address) {
  auto parsed = parse_address(address);
  if (!parsed.ok()) return parsed.error();
  listener_ = new uv_tcp_t;
  if (const int rc = uv_tcp_init(loop_, listener_); rc != 0) {
    delete listener_;
    listener_ = nullptr;
    return make_error(ErrorCode::unavailable,
                      std::string("cannot create the agent TCP listener: ") + uv_strerror(rc));
  }
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&parsed.value()), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, &on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), delete_tcp_handle);
    listener_ = nullptr;
    return make_error(ErrorCode::unavailable,
                      "cannot listen for agents on TCP " + address + ": " + uv_strerror(rc) +
                          " (is another agent running? choose another -server-port)");
  }
  return Status();
}

void PeerTransport::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<PeerTransport*>(server->data);
  if (status < 0 || self->closed_) return;
  auto* client = new uv_tcp_t;
  if (uv_tcp_init(self->loop_, client) != 0) {
    delete client;
    return;
  }
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), delete_tcp_handle);
    return;
  }
  if (self->inbound_.size() >= kMaxInboundConnections) {
    ++self->counters_.connections_refused;
    uv_close(reinterpret_cast<uv_handle_t*>(client), delete_tcp_handle);
    return;
  }
  (void)uv_tcp_nodelay(client, 1);  // a failure only costs latency
  ++self->counters_.connections_accepted;
  auto* stream = new FramedStream(
      reinterpret_cast<uv_stream_t*>(client),
      StreamLimits{kMaxSealedFrameBytes, kMaxQueuedBytesPerPeer},
      [self](FramedStream& from, std::string payload) { self->on_frame(from, std::move(payload)); },
      [self](FramedStream& closed, const std::string& reason, size_t truncated_bytes) {
        self->inbound_.erase(&closed);
        const int64_t now_ms = static_cast<int64_t>(uv_now(self->loop_));
        if (truncated_bytes > 0) {
          ++self->counters_.frames_truncated;
          if (self->bad_frame_log_.allow(now_ms)) {
            spdlog::warn("peer connection closed in the middle of a frame ({} bytes of it "
                         "received); the partial frame was discarded",
                         truncated_bytes);
          }
        } else if (!reason.empty() && self->bad_frame_log_.allow(now_ms)) {
          spdlog::warn("peer connection closed: {}", reason);
        }
      });
  self->inbound_[stream] = Inbound{};
  stream->start_reading();
}

void PeerTransport::refuse(FramedStream& stream, const std::string& why) {
  ++counters_.connections_unauthenticated;
  if (refused_log_.allow(static_cast<int64_t>(uv_now(loop_)))) {
    spdlog::warn("refused an agent connection from {}: {}", stream.peer_address(), why);
  }
  inbound_.erase(&stream);
  stream.close(why);
}

void PeerTransport::on_frame(FramedStream& stream, std::string payload) {
  auto state = inbound_.find(&stream);
  if (state == inbound_.end()) return;  // refused already; the stream is closing
  Inbound& inbound = state->second;
  if (!inbound.greeted) {
    inbound.greeted = true;
    if (crypto::looks_like_hello(payload)) {
      if (!keys_.enabled()) {
        return refuse(stream, "it is encrypted, but this agent has no key (start it with "
                              "-encrypt, the cluster's key)");
      }
      auto opened = crypto::StreamOpener::open_hello(keys_.keyring, payload, hello_replays_,
                                                     wall_clock_ms());
      if (!opened.opener) return refuse(stream, "its hello was " + opened.failure);
      inbound.opener = std::move(opened.opener);
      inbound.key_id = opened.key_id;
      return;
    }
    if (keys_.require_sealed()) {
      return refuse(stream, "it is not encrypted, and this agent requires encryption (a peer "
                            "without the cluster's key, or encrypt_verify_outgoing = false)");
    }
  }
  if (inbound.opener) {
    std::optional<std::string> opened = inbound.opener->open(payload);
    if (!opened) return refuse(stream, "a frame failed authentication (tampered or forged)");
    payload = std::move(*opened);
  }
  auto decoded = wire::decode_peer_message(payload);
  if (!decoded.ok()) {
    ++counters_.frames_malformed;
    if (bad_frame_log_.allow(static_cast<int64_t>(uv_now(loop_)))) {
      spdlog::warn("dropped a malformed peer frame ({} bytes): {}", payload.size(),
                   decoded.error().message);
    }
    return;
  }
  ++counters_.frames_received;
  on_message_(std::move(decoded).value());
}

void PeerTransport::send(const std::string& to_name, const std::string& address,
                         const wire::PeerMessage& message, int64_t now_ms) {
  if (closed_ || address.empty()) {
    ++counters_.frames_dropped;  // the peer's address is not known from gossip yet
    return;
  }
  Outbound& outbound = outbound_[to_name];
  if (outbound.address != address) {
    // The peer moved (restarted on another port): start over with the new address.
    if (outbound.stream) outbound.stream->close("peer address changed");
    if (outbound.connecting) {
      uv_close(reinterpret_cast<uv_handle_t*>(outbound.connecting), delete_tcp_handle);
    }
    outbound.stream = nullptr;
    outbound.connecting = nullptr;
    outbound.waiting.clear();
    outbound.waiting_bytes = 0;
    outbound.address = address;
    outbound.retry_after_ms = 0;
    outbound.sealer.reset();
  }
  std::string payload = wire::encode_peer_message(message);
  if (outbound.stream) {
    send_on(outbound, payload);
    return;
  }
  if (outbound.waiting_bytes + payload.size() > kMaxWaitingBytesPerPeer) {
    ++counters_.frames_dropped;
    return;
  }
  if (!outbound.connecting && now_ms < outbound.retry_after_ms) {
    ++counters_.frames_dropped;  // backing off after a failed connect
    return;
  }
  outbound.waiting_bytes += payload.size();
  outbound.waiting.push_back(std::move(payload));
  if (!outbound.connecting) connect(to_name, outbound, now_ms);
}

void PeerTransport::connect(const std::string& name, Outbound& outbound, int64_t now_ms) {
  auto parsed = parse_address(outbound.address);
  if (!parsed.ok()) {
    counters_.frames_dropped += outbound.waiting.size();
    outbound.waiting.clear();
    outbound.waiting_bytes = 0;
    outbound.retry_after_ms = now_ms + kReconnectBackoffMs;
    return;
  }
  auto* handle = new uv_tcp_t;
  // Create the socket now (not at connect) so its options can be set before the SYN.
  if (const int rc = uv_tcp_init_ex(loop_, handle, AF_INET); rc != 0) {
    // Out of descriptors (EMFILE) or memory: the handle was never opened, so it is freed
    // here, and the peer is treated as unreachable until the back-off passes.
    delete handle;
    ++counters_.connect_failures;
    counters_.frames_dropped += outbound.waiting.size();
    outbound.waiting.clear();
    outbound.waiting_bytes = 0;
    outbound.retry_after_ms = now_ms + kReconnectBackoffMs;
    if (bad_frame_log_.allow(now_ms)) {
      spdlog::warn("cannot open a socket to agent {}: {}", name, uv_strerror(rc));
    }
    on_unreachable_(name);
    return;
  }
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(handle), &fd) == 0) {
    const unsigned timeout_ms = kUnacknowledgedTimeoutMs;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms));
  }
  sockaddr_in local{};
  if (uv_ip4_addr(bind_host_.c_str(), 0, &local) == 0 &&
      uv_tcp_bind(handle, reinterpret_cast<const sockaddr*>(&local), 0) != 0 &&
      bad_frame_log_.allow(now_ms)) {
    // Not fatal: the connection leaves from the kernel's choice of address instead.
    spdlog::warn("cannot bind the connection to agent {} to {}", name, bind_host_);
  }
  auto* request = new ConnectRequest{{}, this, name};
  request->request.data = request;
  outbound.connecting = handle;
  const int rc = uv_tcp_connect(&request->request, handle,
                                reinterpret_cast<const sockaddr*>(&parsed.value()),
                                &on_connected);
  if (rc != 0) {
    delete request;
    outbound.connecting = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle), delete_tcp_handle);
    ++counters_.connect_failures;
    counters_.frames_dropped += outbound.waiting.size();
    outbound.waiting.clear();
    outbound.waiting_bytes = 0;
    outbound.retry_after_ms = now_ms + kReconnectBackoffMs;
    on_unreachable_(name);
  }
}

void PeerTransport::on_connected(uv_connect_t* connect_request, int status) {
  std::unique_ptr<ConnectRequest> request(static_cast<ConnectRequest*>(connect_request->data));
  PeerTransport* self = request->transport;
  auto* handle = reinterpret_cast<uv_tcp_t*>(connect_request->handle);
  // A handle closed while connecting (shutdown, or the peer moved) is freed by its close
  // callback; nothing else to do.
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) return;
  auto found = self->outbound_.find(request->name);
  const bool current = found != self->outbound_.end() && found->second.connecting == handle;
  if (status < 0 || self->closed_ || !current) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), delete_tcp_handle);
    if (!current) return;
    Outbound& outbound = found->second;
    outbound.connecting = nullptr;
    ++self->counters_.connect_failures;
    self->counters_.frames_dropped += outbound.waiting.size();
    outbound.waiting.clear();
    outbound.waiting_bytes = 0;
    outbound.retry_after_ms = static_cast<int64_t>(uv_now(self->loop_)) + kReconnectBackoffMs;
    if (!self->closed_) self->on_unreachable_(request->name);
    return;
  }
  Outbound& outbound = found->second;
  outbound.connecting = nullptr;
  (void)uv_tcp_nodelay(handle, 1);  // a failure only costs latency
  const std::string name = request->name;
  outbound.stream = new FramedStream(
      reinterpret_cast<uv_stream_t*>(handle),
      StreamLimits{kMaxSealedFrameBytes, kMaxQueuedBytesPerPeer},
      // Peers never answer on this connection; reading only notices when it closes.
      [](FramedStream&, std::string) {},
      [self, name](FramedStream& closed, const std::string&, size_t) {
        auto it = self->outbound_.find(name);
        if (it != self->outbound_.end() && it->second.stream == &closed) {
          it->second.stream = nullptr;
          // The peer went away (a crashed process resets the connection at once): what was
          // sent may be lost, so the sender re-routes now instead of waiting out a timeout.
          if (!self->closed_) self->on_unreachable_(name);
        }
      });
  outbound.stream->start_reading();
  outbound.sealer.reset();
  if (self->keys_.seal_outgoing()) {
    outbound.sealer = std::make_unique<crypto::StreamSealer>(self->keys_.keyring.primary(),
                                                             wall_clock_ms());
    outbound.key_id = self->keys_.keyring.primary().id;
    outbound.stream->send(outbound.sealer->hello());
  }
  for (const std::string& payload : outbound.waiting) self->send_on(outbound, payload);
  outbound.waiting.clear();
  outbound.waiting_bytes = 0;
}

void PeerTransport::send_on(Outbound& outbound, std::string_view payload) {
  if (!outbound.sealer) {
    if (outbound.stream->send(payload)) {
      ++counters_.frames_sent;
    } else {
      ++counters_.frames_dropped;
    }
    return;
  }
  // A sealed stream must not skip a frame it sealed (the receiver would fall out of step and
  // drop the connection): check for room before sealing.
  if (!outbound.stream->has_room_for(payload.size() + crypto::kStreamFrameOverheadBytes)) {
    ++counters_.frames_dropped;
    return;
  }
  if (outbound.stream->send(outbound.sealer->seal(payload))) {
    ++counters_.frames_sent;
  } else {
    ++counters_.frames_dropped;
  }
}

void PeerTransport::on_keys_changed() {
  for (auto& [name, outbound] : outbound_) {
    const bool sealed_right = keys_.seal_outgoing()
                                  ? outbound.sealer && outbound.key_id == keys_.keyring.primary().id
                                  : !outbound.sealer;
    if (outbound.stream && !sealed_right) outbound.stream->close("the cluster key changed");
  }
  std::vector<FramedStream*> stale;
  for (const auto& [stream, state] : inbound_) {
    if (state.opener && keys_.keyring.find(state.key_id) == nullptr) stale.push_back(stream);
  }
  for (FramedStream* stream : stale) {
    inbound_.erase(stream);
    stream->close("sealed under a key that was removed");
  }
}

void PeerTransport::close_all() {
  closed_ = true;
  if (listener_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), delete_tcp_handle);
    listener_ = nullptr;
  }
  for (auto& [name, outbound] : outbound_) {
    if (outbound.stream) outbound.stream->close("shutting down");
    if (outbound.connecting) {
      // Closing the handle cancels the connect; on_connected then sees it closing.
      uv_close(reinterpret_cast<uv_handle_t*>(outbound.connecting), delete_tcp_handle);
      outbound.connecting = nullptr;
    }
  }
  std::vector<FramedStream*> inbound;
  for (const auto& [stream, state] : inbound_) inbound.push_back(stream);
  for (FramedStream* stream : inbound) stream->close("shutting down");
}

}  // namespace conclave::agent
