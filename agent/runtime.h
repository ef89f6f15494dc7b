// Runtime: the only code that drives I/O. It owns the libuv loop, the UDP gossip socket, the
// agent-to-agent TCP transport, the client Unix socket, the timers, signals and the store, and
// feeds everything to one agent::Node.
//
// Per loop turn (agent/node_driver.h does the ordering): gossip packets, forwarded requests and
// client replies are sent at once; then, if no batch is being persisted and the node has a
// NodeReady, its batch is written by a libuv worker thread (so the loop keeps answering gossip
// probes while the disk is slow), and only after the write succeeded are its Raft messages
// sent, except the leader's appends, which go when the write starts (the durability rule of
// raft/types.h). A storage error stops the agent: a server must not
// keep voting on a log it cannot trust.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/access_policy.h"
#include "agent/client_server.h"
#include "agent/node.h"
#include "agent/traffic_keys.h"

namespace conclave::agent {

struct RuntimeOptions {
  NodeOptions node;         // gossip_address and rpc_address are where to bind
  std::string data_dir;     // holds conclave.db (created if missing)
  std::string socket_path;  // the client Unix socket
  TrafficKeys traffic_keys; // gossip and agent-to-agent sealing (empty keyring: plaintext)
  SocketAccess socket_access;  // who may connect to socket_path
  AccessPolicy access_policy;  // what each local user may do (agent/access_policy.h)
  int64_t tick_interval_ms = 10;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Opens the store, binds every socket and runs until SIGINT/SIGTERM or a fatal error.
  // Returns the process exit code (0 after a clean stop). Set-up errors are logged with their
  // cause and fix and return 1.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace conclave::agent
