// PeerTransport: agent-to-agent TCP. It listens for inbound connections from peers and keeps
// one outbound connection per peer, created on first send and re-created after a failure
// (with a short back-off). Messages are one-way: a peer answers over its own outbound
// connection. Frames are wire::PeerMessage (wire/peer.fbs).
//
// Nothing here is reliable by design: a frame to a peer that is down or whose queue is full is
// dropped and counted; Raft retransmits what matters.
//
// Sealing (agent/traffic_keys.h, crypto/stream_seal.h): with a key, every outbound connection
// starts with a hello and seals each frame; an inbound connection whose hello or any frame does
// not open under the keyring, that replays a hello, or that is plaintext while sealing is
// required, is closed and counted (connections_unauthenticated) with a log line naming the
// peer's address and why.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/framed_stream.h"
#include "agent/log_limiter.h"
#include "agent/traffic_keys.h"
#include "crypto/replay_window.h"
#include "crypto/stream_seal.h"
#include "common/result.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

struct PeerTransportCounters {
  uint64_t frames_received = 0;
  uint64_t frames_malformed = 0;    // did not decode (logged)
  uint64_t frames_truncated = 0;    // a peer closed mid-frame (logged)
  uint64_t frames_sent = 0;
  uint64_t frames_dropped = 0;      // no address, connection failed, or queue full
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0; // over max_inbound_connections
  uint64_t connect_failures = 0;
  uint64_t connections_unauthenticated = 0;  // closed: failed the sealing checks (logged)
};

class PeerTransport {
 public:
  using MessageHandler = std::function<void(wire::PeerMessage message)>;
  // The connection to a peer could not be made, or closed: what was queued for it is lost.
  using UnreachableHandler = std::function<void(const std::string& name)>;

  static constexpr size_t kMaxInboundConnections = 256;
  static constexpr size_t kMaxQueuedBytesPerPeer = 16 * 1024 * 1024;
  static constexpr size_t kMaxWaitingBytesPerPeer = 16 * 1024 * 1024;  // while connecting
  static constexpr int64_t kReconnectBackoffMs = 200;
  // A connect or a write the peer does not acknowledge within this long fails the connection
  // (TCP_USER_TIMEOUT), so a peer behind a silent partition is retried on a fresh connection
  // instead of waiting out the kernel's retransmission back-off (minutes) after it heals.
  static constexpr unsigned kUnacknowledgedTimeoutMs = 2000;

  // Outbound connections leave from `bind_host` (the agent's own address), so peers and
  // firewalls see one address per agent.
  // `keys` outlives the transport and may change while it runs (a key installed or made
  // primary applies to connections made from then on).
  PeerTransport(uv_loop_t* loop, std::string bind_host, const TrafficKeys& keys,
                MessageHandler on_message, UnreachableHandler on_unreachable);
  ~PeerTransport();

  Status listen(const std::string& address);
  void send(const std::string& to_name, const std::string& address,
            const wire::PeerMessage& message, int64_t now_ms);
  // Closes every connection and the listener (the loop finishes the closing).
  void close_all();
  // The keyring changed: outbound connections not sealed under the primary key, and inbound
  // ones sealed under a key no longer installed, are closed (new ones use the keyring as it is
  // now). A removed key stops being accepted at once, also on connections made under it.
  void on_keys_changed();
  const PeerTransportCounters& counters() const { return counters_; }

 private:
  struct Outbound {
    std::string address;
    FramedStream* stream = nullptr;     // connected
    uv_tcp_t* connecting = nullptr;     // a connect in progress
    std::vector<std::string> waiting;   // payloads queued while connecting
    size_t waiting_bytes = 0;
    int64_t retry_after_ms = 0;
    std::unique_ptr<crypto::StreamSealer> sealer;  // set on a sealed connection
    crypto::KeyId key_id = 0;                      // the key it is sealed under
  };
  struct Inbound {
    bool greeted = false;                      // the first frame was looked at
    std::optional<crypto::StreamOpener> opener;  // set on a sealed connection
    crypto::KeyId key_id = 0;                      // the key its hello was sealed under
  };
  struct ConnectRequest {
    uv_connect_t request;
    PeerTransport* transport;
    std::string name;
  };

  void connect(const std::string& name, Outbound& outbound, int64_t now_ms);
  static void on_connection(uv_stream_t* server, int status);
  static void on_connected(uv_connect_t* request, int status);
  void on_frame(FramedStream& stream, std::string payload);
  // Sends one payload on a connected outbound stream, sealed if the connection is.
  void send_on(Outbound& outbound, std::string_view payload);
  // Closes an inbound connection that failed authentication, counting and logging why.
  void refuse(FramedStream& stream, const std::string& why);

  uv_loop_t* loop_;
  std::string bind_host_;
  const TrafficKeys& keys_;
  crypto::ReplayWindow hello_replays_;
  MessageHandler on_message_;
  UnreachableHandler on_unreachable_;
  uv_tcp_t* listener_ = nullptr;
  std::map<std::string, Outbound> outbound_;
  std::map<FramedStream*, Inbound> inbound_;
  PeerTransportCounters counters_;
  LogLimiter bad_frame_log_{1000, 5};
  LogLimiter refused_log_{10'000, 3};
  bool closed_ = false;
};

}  // namespace conclave::agent
