#include "agent/runtime.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <utility>

#include "agent/address.h"
#include "agent/client_server.h"
#include "agent/keyring_service.h"
#include "agent/log_limiter.h"
#include "agent/node_driver.h"
#include "agent/peer_transport.h"
#include "agent/service_notify.h"
#include "crypto/datagram_seal.h"
#include "crypto/replay_window.h"
#include "store/keyring_store.h"
#include "store/store.h"
#include "wire/codec.h"

namespace conclave::agent {

// How long a leader stopping on SIGTERM waits for another server to take over.
constexpr int64_t kHandoverMaxMs = 1000;
// How long a leaving agent waits for its `left` news to be retransmitted before it stops.
constexpr int64_t kLeaveMaxMs = 2000;

struct RuntimeCounters {
  uint64_t gossip_packets_malformed = 0;
  uint64_t gossip_packets_send_failed = 0;
  // Sealing (agent/traffic_keys.h): dropped packets that did not open under the keyring (or
  // were sealed while this agent has no key), were plaintext while sealing is required, or
  // were replays (or sent too long ago by their sender's clock).
  uint64_t gossip_packets_unauthenticated = 0;
  uint64_t gossip_packets_plaintext_refused = 0;
  uint64_t gossip_packets_replayed = 0;
  uint64_t client_requests_denied = 0;  // by the access rules (agent/access_policy.h)
  uint64_t batches_persisted = 0;
};

struct Runtime::Impl : NodeIo {
  explicit Impl(RuntimeOptions options) : options(std::move(options)) {}

  RuntimeOptions options;
  uv_loop_t loop{};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Node> node;
  std::unique_ptr<NodeDriver> driver;
  std::unique_ptr<PeerTransport> peers;
  std::unique_ptr<ClientServer> clients;
  std::unique_ptr<store::KeyringStore> keyring_store;
  std::unique_ptr<KeyringService> keyring;
  uv_udp_t udp{};
  uv_timer_t tick_timer{};
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  bool handles_open = false;
  bool stopping = false;
  // Graceful shutdown (SIGTERM, SIGINT, `conclave leave`): a leader first hands leadership
  // over (until handover_deadline_ms), then every agent gossips that it left and stops once
  // that has spread (or at leave_deadline_ms). A second signal stops at once.
  bool shutting_down = false;
  bool handing_over = false;
  int64_t handover_deadline_ms = -1;
  bool leaving = false;
  int64_t leave_deadline_ms = -1;
  int exit_code = 0;
  std::string announced_leader;  // the leader last logged (empty: none)
  std::string announced_raft_report;  // the node's raft_report() last logged
  std::vector<std::string> unreachable_peers;  // reported by the transport since the last tick
  RuntimeCounters counters;
  LogLimiter bad_packet_log{1000, 5};
  LogLimiter other_cluster_log{10000, 3};
  LogLimiter refused_packet_log{10000, 3};
  LogLimiter denied_log{10000, 5};
  crypto::ReplayWindow gossip_replays;
  char udp_buffer[64 * 1024];

  struct PersistJob {
    uv_work_t work;
    Impl* impl;
    store::Batch batch;
    Status status;
  };

  int64_t now_ms() const { return static_cast<int64_t>(uv_hrtime() / 1'000'000); }
  // Wall-clock milliseconds, for the send times sealed into datagrams (compared across hosts).
  static int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // The gossip payload of a received datagram after the sealing checks, or nullopt (counted
  // and logged) when it must be dropped.
  std::optional<std::string> unseal_gossip(std::string_view datagram, const sockaddr* from);

  int set_up();
  // Loads the saved keyring (it wins over -encrypt once one was saved), or saves -encrypt's.
  bool set_up_keyring();
  // Sends and answers what the keyring service has ready.
  void flush_keyring();
  // Raises the soft limit on open descriptors to the hard limit.
  static void raise_descriptor_limit();
  void pump();
  void log_changes();
  void log_membership_events();
  void begin_shutdown(const std::string& reason);
  void start_leave();
  void advance_shutdown();
  void handle_name_conflicts();
  void report_other_clusters();
  void stop(int code);

  // NodeIo: what the shared driver (agent/node_driver.h) asks of the runtime.
  void send_gossip(gossip::Outgoing packet) override;
  void send_peer(PeerSend send) override;
  void reply(ClientReply reply) override;
  void persist(store::Batch batch) override;
  void add_runtime_counters(wire::StatusResponse& status) const;

  static void on_udp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer);
  static void on_udp_receive(uv_udp_t* handle, ssize_t count, const uv_buf_t* buffer,
                             const sockaddr* from, unsigned flags);
  static void on_tick(uv_timer_t* timer);
  static void on_signal(uv_signal_t* signal, int number);
  static void on_persist(uv_work_t* work);
  static void on_persisted(uv_work_t* work, int status);
};

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Runtime::~Runtime() = default;

void Runtime::Impl::raise_descriptor_limit() {
  // Every client connection, peer connection and open file takes a descriptor; the usual
  // soft limit (1,024) is reached by about a thousand clients. Take what the hard limit allows.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open file limit raised from {} to {}", before, limit.rlim_cur);
  }
}

bool Runtime::Impl::set_up_keyring() {
  const std::string path = (std::filesystem::path(options.data_dir) / "keyring.db").string();
  auto opened = store::KeyringStore::open(path);
  if (!opened.ok()) {
    spdlog::error("{}", opened.error().message);
    return false;
  }
  keyring_store = std::move(opened).value();
  auto saved = keyring_store->load();
  if (!saved.ok()) {
    spdlog::error("{}", saved.error().message);
    return false;
  }
  crypto::Keyring& ring = options.traffic_keys.keyring;
  if (saved.value().empty()) {
    // First start with a key (or none): what -encrypt gave is what is saved.
    if (!ring.empty()) {
      std::vector<std::string> keys;
      for (const crypto::Key& key : ring.keys()) keys.push_back(crypto::encode_key(key));
      if (Status status = keyring_store->save(keys); !status.ok()) {
        spdlog::error("{}", status.error().message);
        return false;
      }
    }
  } else {
    crypto::Keyring loaded;
    for (const std::string& text : saved.value()) {
      auto key = crypto::parse_key(text);
      if (!key.ok() || !loaded.install(key.value()).ok()) {
        spdlog::error("the keyring {} holds a key that is not valid; restore it, or remove the "
                      "file and start with -encrypt and the cluster's current key",
                      path);
        return false;
      }
    }
    if (!ring.empty() && loaded.find(ring.primary().id) == nullptr) {
      spdlog::warn("-encrypt's key is not in the saved keyring {} ({} keys, changed by `conclave "
                   "keyring`): the saved keyring is used",
                   path, loaded.keys().size());
    }
    ring = std::move(loaded);
  }
  if (!ring.empty()) {
    spdlog::info("gossip and agent traffic are encrypted ({} key{} in the keyring{}{})",
                 ring.keys().size(), ring.keys().size() == 1 ? "" : "s",
                 options.traffic_keys.verify_incoming ? "" : "; plaintext accepted",
                 options.traffic_keys.verify_outgoing ? "" : "; sending plaintext");
  }
  keyring = std::make_unique<KeyringService>(
      options.node.name, options.traffic_keys,
      [this](const std::vector<std::string>& keys) { return keyring_store->save(keys); });
  return true;
}

void Runtime::Impl::flush_keyring() {
  for (KeyringService::PeerSend& send : keyring->take_peer_sends()) {
    wire::PeerMessage message;
    message.from_name = options.node.name;
    message.cluster_id = node->cluster_id();
    message.payload = std::move(send.payload);
    peers->send(send.to, node->rpc_address_of_agent(send.to), message, now_ms());
  }
  for (KeyringService::Reply& reply : keyring->take_replies()) {
    clients->reply(reply.connection_id, reply.response);
  }
  if (keyring->take_keys_changed()) {
    spdlog::info("the keyring changed: {} key(s), primary {}...",
                 options.traffic_keys.keyring.keys().size(),
                 crypto::encode_key(options.traffic_keys.keyring.primary()).substr(0, 8));
    peers->on_keys_changed();
  }
}

int Runtime::Impl::set_up() {
  // A write to a peer or client that stopped reading must fail with EPIPE (handled as a
  // stream error), not kill the agent with SIGPIPE: libuv writes streams without
  // MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    spdlog::error("cannot create the data folder {}: {}", options.data_dir, error.message());
    return 1;
  }
  const std::string database = (std::filesystem::path(options.data_dir) / "conclave.db").string();
  auto opened = store::Store::open(database);
  if (!opened.ok()) {
    spdlog::error("{}", opened.error().message);
    return 1;
  }
  store = std::move(opened).value();
  if (!set_up_keyring()) return 1;
  auto recovered = store->load();
  if (!recovered.ok()) {
    spdlog::error("{}", recovered.error().message);
    return 1;
  }
  // Random words for this boot: the boot id (NodeOptions), the server id of a new data folder,
  // and the seed unless the caller pinned one.
  uint64_t random_words[4] = {0, 0, 0, 0};
  if (uv_random(nullptr, nullptr, random_words, sizeof(random_words), 0, nullptr) != 0) {
    spdlog::error("cannot read random bytes from the system (uv_random failed); the agent "
                  "needs them for its identity");
    return 1;
  }
  if (!recovered.value().identity) {
    // A new data folder: it gets its identity now, durably, before anything can refer to it.
    store::Batch batch;
    batch.identity = store::Identity{options.node.name, random_words[2] | 1, 0};
    if (Status status = store->persist(batch); !status.ok()) {
      spdlog::error("{}", status.error().message);
      return 1;
    }
    recovered.value().identity = batch.identity;
    spdlog::info("new data folder {}: node {} gets server id {:016x}", options.data_dir,
                 options.node.name, batch.identity->server_id);
  } else if (recovered.value().identity->node_name != options.node.name) {
    spdlog::error("the data folder {} belongs to node '{}' (server id {:016x}), but this agent "
                  "was started as '{}'. Start it with -node {}, or give '{}' a data folder of "
                  "its own",
                  options.data_dir, recovered.value().identity->node_name,
                  recovered.value().identity->server_id, options.node.name,
                  recovered.value().identity->node_name, options.node.name);
    return 1;
  }
  if (!recovered.value().damage.empty()) {
    spdlog::critical("{}: {}", database, recovered.value().damage);
  }
  if (!recovered.value().entries.empty()) {
    spdlog::info("recovered from {}: term {}, {} log entries, commit {}, applied {}, {} state "
                 "rows",
                 database, recovered.value().hard_state.term, recovered.value().entries.size(),
                 recovered.value().hard_state.commit, recovered.value().applied_index,
                 recovered.value().state_rows.size());
  }

  options.node.boot_id = random_words[3] | 1;
  // Wall-clock milliseconds: a restart speaks above its previous life (gossip::Options).
  uv_timeval64_t wall_clock{};
  if (uv_gettimeofday(&wall_clock) == 0 && wall_clock.tv_sec > 0) {
    options.node.gossip.initial_incarnation = static_cast<uint64_t>(wall_clock.tv_sec) * 1000 +
                                              static_cast<uint64_t>(wall_clock.tv_usec / 1000);
  }
  if (options.node.random_seed == 1) options.node.random_seed = random_words[1];

  node = std::make_unique<Node>(options.node, recovered.value(), now_ms());
  driver = std::make_unique<NodeDriver>(*node, *this);

  if (const int loop_rc = uv_loop_init(&loop); loop_rc != 0) {
    spdlog::error("cannot start the event loop: {}", uv_strerror(loop_rc));
    return 1;
  }
  loop.data = this;
  handles_open = true;
  raise_descriptor_limit();

  auto gossip_address = parse_address(options.node.gossip_address);
  if (!gossip_address.ok()) {
    spdlog::error("gossip address: {}", gossip_address.error().message);
    return 1;
  }
  int rc = uv_udp_init(&loop, &udp);
  udp.data = this;
  if (rc == 0) {
    rc = uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&gossip_address.value()), 0);
  }
  if (rc == 0) rc = uv_udp_recv_start(&udp, &on_udp_alloc, &on_udp_receive);
  if (rc != 0) {
    spdlog::error("cannot bind the gossip socket UDP {}: {} (is another agent running? choose "
                  "another -gossip-port)",
                  options.node.gossip_address, uv_strerror(rc));
    return 1;
  }

  const std::string& rpc_address = options.node.rpc_address;
  const std::string bind_host = rpc_address.substr(0, rpc_address.rfind(':'));
  peers = std::make_unique<PeerTransport>(
      &loop, bind_host, options.traffic_keys,
      [this](wire::PeerMessage message) {
        if (const auto* request = std::get_if<wire::KeyringPeerRequest>(&message.payload)) {
          if (message.cluster_id == node->cluster_id()) {
            keyring->on_peer_request(message.from_name, *request);
            flush_keyring();
          }
          return;
        }
        if (const auto* response = std::get_if<wire::KeyringPeerResponse>(&message.payload)) {
          keyring->on_peer_response(message.from_name, *response);
          flush_keyring();
          return;
        }
        node->receive_peer(message, now_ms());
        pump();
      },
      [this](const std::string& name) {
        // May be called from inside a send: handled at the next tick, never re-entrantly.
        unreachable_peers.push_back(name);
      });
  if (Status status = peers->listen(options.node.rpc_address); !status.ok()) {
    spdlog::error("{}", status.error().message);
    return 1;
  }

  clients = std::make_unique<ClientServer>(
      &loop,
      [this](uint64_t connection_id, wire::ClientRequest request) {
        const AccessDecision access =
            options.access_policy.authorize(clients->credentials(connection_id), request.body);
        if (!access.allowed) {
          ++counters.client_requests_denied;
          if (denied_log.allow(now_ms())) spdlog::warn("{}", access.reason);
          clients->reply(connection_id,
                         wire::ClientResponse{request.request_id, ErrorCode::permission_denied,
                                              access.reason, false, std::monostate{}});
          return;
        }
        if (const auto* keys = std::get_if<wire::KeyringRequest>(&request.body)) {
          keyring->on_client_request(connection_id, request.request_id, *keys,
                                     node->alive_peer_names(), now_ms());
          flush_keyring();
          return;
        }
        node->receive_client(connection_id, request, now_ms());
        pump();
      },
      [this](uint64_t connection_id) {
        node->client_disconnected(connection_id, now_ms());
        pump();
      });
  if (Status status = clients->listen(options.socket_path, options.socket_access);
      !status.ok()) {
    spdlog::error("{}", status.error().message);
    return 1;
  }

  rc = uv_timer_init(&loop, &tick_timer);
  tick_timer.data = this;
  if (rc == 0) {
    rc = uv_timer_start(&tick_timer, &on_tick, 0,
                        static_cast<uint64_t>(options.tick_interval_ms));
  }
  if (rc == 0) rc = uv_signal_init(&loop, &sigint);
  if (rc == 0) rc = uv_signal_init(&loop, &sigterm);
  sigint.data = sigterm.data = this;
  if (rc == 0) rc = uv_signal_start(&sigint, &on_signal, SIGINT);
  if (rc == 0) rc = uv_signal_start(&sigterm, &on_signal, SIGTERM);
  if (rc != 0) {
    spdlog::error("cannot set up the agent's timer and signal handlers: {}", uv_strerror(rc));
    return 1;
  }

  spdlog::info("agent {} started ({}): gossip udp {}, rpc tcp {}, client socket {}, data {}",
               options.node.name, options.node.server ? "server" : "client",
               options.node.gossip_address, options.node.rpc_address, options.socket_path,
               database);
  if (!options.node.join_addresses.empty()) {
    std::string seeds;
    for (const std::string& seed : options.node.join_addresses) seeds += " " + seed;
    spdlog::info("joining through:{}", seeds);
  }
  // Type=notify units: the client socket listens, so the agent serves from here on.
  if (Status notified = notify_service_manager("READY=1\nSTATUS=serving on " +
                                              options.socket_path);
      !notified.ok()) {
    spdlog::warn("{}", notified.error().message);
  }
  return 0;
}

int Runtime::run() {
  Impl& impl = *impl_;
  const int setup = impl.set_up();
  if (setup != 0) {
    impl.stop(setup);
  }
  if (impl.handles_open) {
    // Runs until stop() has closed every handle (uv_run's "handles left" answer is then 0).
    (void)uv_run(&impl.loop, UV_RUN_DEFAULT);
    if (const int rc = uv_loop_close(&impl.loop); rc != 0) {
      // A handle still open here is a leak in the shutdown path, not a reason to fail the exit.
      spdlog::warn("the event loop closed with handles still open: {}", uv_strerror(rc));
    }
  }
  if (impl.exit_code == 0) spdlog::info("agent stopped");
  return impl.exit_code;
}

void Runtime::Impl::stop(int code) {
  if (stopping) return;
  stopping = true;
  exit_code = code;
  (void)notify_service_manager("STOPPING=1");  // best effort: we are going either way
  if (!handles_open) return;
  if (peers) peers->close_all();
  if (clients) clients->close_all();
  for (uv_handle_t* handle :
       {reinterpret_cast<uv_handle_t*>(&udp), reinterpret_cast<uv_handle_t*>(&tick_timer),
        reinterpret_cast<uv_handle_t*>(&sigint), reinterpret_cast<uv_handle_t*>(&sigterm)}) {
    if (handle->loop != nullptr && !uv_is_closing(handle)) uv_close(handle, nullptr);
  }
}

void Runtime::Impl::on_signal(uv_signal_t* signal, int number) {
  auto* impl = static_cast<Impl*>(signal->data);
  if (impl->shutting_down) {
    spdlog::info("received signal {} again; stopping now", number);
    impl->stop(0);
    return;
  }
  impl->begin_shutdown("received signal " + std::to_string(number));
}

void Runtime::Impl::begin_shutdown(const std::string& reason) {
  shutting_down = true;
  // A leader hands leadership to the most caught-up voter first, so the others do not wait
  // out an election timeout; it gossips its leave only afterwards, so that the others do not
  // start an election of their own meanwhile.
  if (node->begin_handover()) {
    spdlog::info("{}; handing leadership over before leaving", reason);
    handing_over = true;
    handover_deadline_ms = now_ms() + kHandoverMaxMs;
    pump();
    return;
  }
  spdlog::info("{}; leaving the cluster", reason);
  start_leave();
}

void Runtime::Impl::start_leave() {
  leaving = true;
  leave_deadline_ms = now_ms() + kLeaveMaxMs;
  node->leave(now_ms());
  pump();
}

void Runtime::Impl::advance_shutdown() {
  if (handing_over) {
    const bool moved = !node->leads() && !node->leader_name().empty();
    if (!moved && now_ms() < handover_deadline_ms) return;
    if (moved) {
      spdlog::info("leadership handed over to {}", node->leader_name());
    } else {
      spdlog::warn("no other server took leadership within {} ms; leaving anyway",
                   kHandoverMaxMs);
    }
    handing_over = false;
    start_leave();
    return;
  }
  if (!leaving) return;
  if (node->leave_spread()) {
    spdlog::info("leave complete (every live member was told, if any); stopping");
  } else if (now_ms() >= leave_deadline_ms) {
    spdlog::warn("the leave was not fully spread within {} ms; stopping anyway (the others "
                 "may list this agent as failed instead of left)",
                 kLeaveMaxMs);
  } else {
    return;
  }
  stop(0);
}

void Runtime::Impl::report_other_clusters() {
  for (const gossip::ForeignCluster& foreign : node->take_foreign_clusters()) {
    if (!other_cluster_log.allow(now_ms())) continue;
    const bool join_target =
        std::find(options.node.join_addresses.begin(), options.node.join_addresses.end(),
                  foreign.address) != options.node.join_addresses.end();
    spdlog::error("the agent at {}{} belongs to cluster {:016x}, this agent to cluster {:016x}: "
                  "refused, the two pools are kept apart. An agent belongs to one cluster; "
                  "check its -join addresses",
                  foreign.address, join_target ? " (a -join address)" : "",
                  foreign.cluster_id, node->cluster_id());
  }
}

void Runtime::Impl::handle_name_conflicts() {
  for (const gossip::Conflict& conflict : node->take_name_conflicts()) {
    if (conflict.refused) {
      spdlog::error("the name '{}' belongs to another live agent at {}; this agent (gossip "
                    "address {}) was refused. Give each agent a unique name with -node NAME "
                    "(the default is the host name)",
                    conflict.name, conflict.holder_address, conflict.claimant_address);
      stop(1);
      return;
    }
    if (conflict.holder_address == options.node.gossip_address) {
      spdlog::warn("an agent at {} tried to join under this agent's name '{}'; it was refused",
                   conflict.claimant_address, conflict.name);
    } else {
      spdlog::warn("an agent at {} claimed the name '{}' of the live member at {}; it was "
                   "refused",
                   conflict.claimant_address, conflict.name, conflict.holder_address);
    }
  }
}

void Runtime::Impl::on_tick(uv_timer_t* timer) {
  auto* impl = static_cast<Impl*>(timer->data);
  if (impl->node->leave_requested() && !impl->shutting_down) {
    impl->begin_shutdown("`conclave leave` was asked");
  }
  if (impl->shutting_down) {
    impl->advance_shutdown();
    if (impl->stopping) return;
  }
  for (const std::string& name : std::exchange(impl->unreachable_peers, {})) {
    impl->node->peer_unreachable(name, impl->now_ms());
  }
  impl->node->tick(impl->now_ms());
  impl->pump();
  impl->keyring->tick(impl->now_ms());
  impl->flush_keyring();
}

void Runtime::Impl::on_udp_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer) {
  auto* impl = static_cast<Impl*>(handle->data);
  *buffer = uv_buf_init(impl->udp_buffer, sizeof(impl->udp_buffer));
}

void Runtime::Impl::on_udp_receive(uv_udp_t* handle, ssize_t count, const uv_buf_t* buffer,
                                   const sockaddr* from, unsigned) {
  auto* impl = static_cast<Impl*>(handle->data);
  if (count <= 0 || from == nullptr || impl->stopping) return;
  std::optional<std::string> payload =
      impl->unseal_gossip(std::string_view(buffer->base, static_cast<size_t>(count)), from);
  if (!payload) return;
  auto packet = wire::decode_gossip_packet(*payload);
  if (!packet.ok()) {
    ++impl->counters.gossip_packets_malformed;
    if (impl->bad_packet_log.allow(impl->now_ms())) {
      spdlog::warn("dropped a malformed gossip packet from {} ({} bytes): {}",
                   format_address(from), count, packet.error().message);
    }
    return;
  }
  impl->node->receive_gossip(format_address(from), packet.value(), impl->now_ms());
  impl->pump();
}

std::optional<std::string> Runtime::Impl::unseal_gossip(std::string_view datagram,
                                                        const sockaddr* from) {
  const TrafficKeys& keys = options.traffic_keys;
  auto refuse = [&](uint64_t& counter, const std::string& why) -> std::optional<std::string> {
    ++counter;
    if (refused_packet_log.allow(now_ms())) {
      spdlog::warn("dropped a gossip packet from {}: {}", format_address(from), why);
    }
    return std::nullopt;
  };
  if (!crypto::looks_sealed(datagram)) {
    if (keys.require_sealed()) {
      return refuse(counters.gossip_packets_plaintext_refused,
                    "it is not encrypted, and this agent requires encryption (an agent "
                    "without the cluster's key, or encrypt_verify_outgoing = false)");
    }
    return std::string(datagram);
  }
  if (!keys.enabled()) {
    return refuse(counters.gossip_packets_unauthenticated,
                  "it is encrypted, but this agent has no key (start it with -encrypt, the "
                  "cluster's key)");
  }
  crypto::OpenedDatagram opened = crypto::open_datagram(keys.keyring, datagram);
  if (opened.failure) {
    return refuse(counters.gossip_packets_unauthenticated,
                  std::string("it ") + crypto::open_failure_name(*opened.failure));
  }
  const crypto::ReplayWindow::Verdict verdict =
      gossip_replays.check(opened.nonce, opened.sent_at_ms, wall_clock_ms());
  if (verdict != crypto::ReplayWindow::Verdict::fresh) {
    return refuse(counters.gossip_packets_replayed,
                  std::string("it was ") + crypto::verdict_name(verdict) + " (sent at " +
                      std::to_string(opened.sent_at_ms) + " ms, here it is " +
                      std::to_string(wall_clock_ms()) + " ms)");
  }
  return std::move(opened.payload);
}

void Runtime::Impl::send_gossip(gossip::Outgoing outgoing) {
  auto address = parse_address(outgoing.to_address);
  std::string bytes = wire::encode_gossip_packet(outgoing.packet);
  if (!address.ok() || bytes.size() > wire::kMaxGossipPacketBytes) {
    ++counters.gossip_packets_send_failed;
    return;
  }
  if (options.traffic_keys.seal_outgoing()) {
    bytes = crypto::seal_datagram(options.traffic_keys.keyring.primary(), bytes, wall_clock_ms());
  }
  uv_buf_t buffer = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  // Datagrams are fire-and-forget: if the socket buffer is full the packet is lost, which
  // SWIM tolerates like any other loss.
  if (uv_udp_try_send(&udp, &buffer, 1, reinterpret_cast<const sockaddr*>(&address.value())) <
      0) {
    ++counters.gossip_packets_send_failed;
  }
}

void Runtime::Impl::send_peer(PeerSend send) {
  peers->send(send.to_name, send.rpc_address, send.message, now_ms());
}

void Runtime::Impl::reply(ClientReply reply) {
  if (auto* status = std::get_if<wire::StatusResponse>(&reply.response.body)) {
    add_runtime_counters(*status);
  }
  clients->reply(reply.connection_id, reply.response);
}

void Runtime::Impl::persist(store::Batch batch) {
  // Off the loop thread: gossip keeps answering probes while the disk is slow.
  auto* job = new PersistJob{{}, this, std::move(batch), Status()};
  job->work.data = job;
  if (const int rc = uv_queue_work(&loop, &job->work, &on_persist, &on_persisted); rc != 0) {
    // Nothing may be acknowledged that is not durable: without a way to persist, stop.
    delete job;
    spdlog::critical("cannot queue a write to the data folder: {}; stopping", uv_strerror(rc));
    stop(1);
  }
}

void Runtime::Impl::add_runtime_counters(wire::StatusResponse& status) const {
  status.counters.push_back({"gossip_packets_malformed", counters.gossip_packets_malformed});
  status.counters.push_back({"gossip_packets_send_failed", counters.gossip_packets_send_failed});
  status.counters.push_back(
      {"gossip_packets_unauthenticated", counters.gossip_packets_unauthenticated});
  status.counters.push_back(
      {"gossip_packets_plaintext_refused", counters.gossip_packets_plaintext_refused});
  status.counters.push_back({"gossip_packets_replayed", counters.gossip_packets_replayed});
  status.counters.push_back({"client_requests_denied", counters.client_requests_denied});
  status.counters.push_back({"batches_persisted", counters.batches_persisted});
  const PeerTransportCounters& peer = peers->counters();
  status.counters.push_back({"peer_frames_received", peer.frames_received});
  status.counters.push_back({"peer_frames_malformed", peer.frames_malformed});
  status.counters.push_back({"peer_frames_truncated", peer.frames_truncated});
  status.counters.push_back({"peer_frames_sent", peer.frames_sent});
  status.counters.push_back({"peer_frames_dropped", peer.frames_dropped});
  status.counters.push_back({"peer_connect_failures", peer.connect_failures});
  status.counters.push_back({"peer_connections_unauthenticated", peer.connections_unauthenticated});
  const ClientServerCounters& client = clients->counters();
  status.counters.push_back({"client_frames_malformed", client.frames_malformed});
  status.counters.push_back({"client_frames_truncated", client.frames_truncated});
  status.counters.push_back({"client_streams_broken", client.streams_broken});
  status.counters.push_back({"client_replies_dropped", client.replies_dropped});
  status.counters.push_back({"client_requests_over_limit", client.requests_over_limit});
}

void Runtime::Impl::log_membership_events() {
  for (const gossip::Event& event : node->take_membership_events()) {
    const gossip::Member& member = event.member;
    switch (event.type) {
      case gossip::EventType::joined:
        spdlog::info("member joined: {} ({})", member.name, member.address);
        break;
      case gossip::EventType::updated:
        spdlog::info("member updated: {} ({}, incarnation {})", member.name, member.address,
                     member.incarnation);
        break;
      case gossip::EventType::suspected:
        spdlog::info("member suspected: {}", member.name);
        break;
      case gossip::EventType::failed:
        spdlog::warn("member failed: {}", member.name);
        break;
      case gossip::EventType::left:
        spdlog::info("member left: {}", member.name);
        break;
      case gossip::EventType::reaped:
        spdlog::info("member forgotten: {} ({})", member.name, member.address);
        break;
    }
  }
}

void Runtime::Impl::log_changes() {
  log_membership_events();
  handle_name_conflicts();
  if (stopping) return;
  report_other_clusters();
  const std::string leader = node->leader_name();
  if (leader != announced_leader) {
    if (leader.empty()) {
      spdlog::warn("raft leader lost (term {}); writes wait for an election",
                   node->raft() ? node->raft()->term() : 0);
    } else {
      spdlog::info("raft leader is {} (term {})", leader, node->raft()->term());
    }
    announced_leader = leader;
  }
  for (const std::string& notice : node->take_notices()) spdlog::info("{}", notice);
  if (node->raft_report() != announced_raft_report) {
    announced_raft_report = node->raft_report();
    if (!node->damage().empty()) {
      spdlog::critical("{}", announced_raft_report);
    } else if (announced_raft_report.rfind("refusing", 0) == 0 ||
               announced_raft_report.rfind("not bootstrapping", 0) == 0) {
      spdlog::error("{}", announced_raft_report);
    } else if (!announced_raft_report.empty()) {
      spdlog::info("{}", announced_raft_report);
    }
  }
}

void Runtime::Impl::pump() {
  if (stopping) return;
  driver->pump();
  log_changes();
}

void Runtime::Impl::on_persist(uv_work_t* work) {
  auto* job = static_cast<PersistJob*>(work->data);
  job->status = job->impl->store->persist(job->batch);
}

void Runtime::Impl::on_persisted(uv_work_t* work, int) {
  std::unique_ptr<PersistJob> job(static_cast<PersistJob*>(work->data));
  Impl* impl = job->impl;
  if (!job->status.ok()) {
    spdlog::critical("{}; stopping: a server must not keep answering on a log it cannot "
                     "persist (fix the disk, then restart the agent)",
                     job->status.error().message);
    impl->stop(1);
    impl->exit_code = 1;  // even if a signal had already asked for a clean stop
    return;
  }
  ++impl->counters.batches_persisted;
  if (impl->stopping) return;
  impl->driver->persisted();
  impl->log_changes();
}

}  // namespace conclave::agent
