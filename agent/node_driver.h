// NodeDriver: the one piece of code that carries out a Node's outputs in the durable order, for
// both callers: the libuv runtime and the simulator. So the simulator tests what ships.
//
// After every input the caller calls pump(): it sends what needs no persistence (gossip
// packets, forwarded requests and their answers, client replies), then, if no batch is being
// persisted and the node has one, hands the batch to NodeIo::persist. When the caller reports
// persisted(), the batch's Raft messages are sent (never before: a vote or an acknowledgement
// must not leave before the fsync behind it), the node advances, and pump() runs again. The
// leader's append requests are the exception: they leave when the persist starts, so the
// leader's fsync overlaps its followers' (raft/types.h, Ready step 2).
#pragma once

#include <optional>

#include "agent/node.h"

namespace conclave::agent {

// What the caller provides: how to send, reply and persist.
class NodeIo {
 public:
  virtual ~NodeIo() = default;
  virtual void send_gossip(gossip::Outgoing packet) = 0;
  virtual void send_peer(PeerSend send) = 0;
  virtual void reply(ClientReply reply) = 0;
  // Starts writing `batch` durably (on another thread, or after a simulated delay). The caller
  // calls NodeDriver::persisted() once it is durable. A failure to persist must stop the agent:
  // a server must not keep answering on a log it cannot trust.
  virtual void persist(store::Batch batch) = 0;
};

class NodeDriver {
 public:
  NodeDriver(Node& node, NodeIo& io) : node_(node), io_(io) {}

  // Sends what is ready to go and starts the next durable step if none is in flight.
  void pump();
  // The batch handed to NodeIo::persist is durable: send its messages, advance, pump.
  // Precondition: persisting().
  void persisted();
  bool persisting() const { return in_flight_.has_value(); }

 private:
  void send_immediate();
  void finish();

  Node& node_;
  NodeIo& io_;
  std::optional<NodeReady> in_flight_;
};

}  // namespace conclave::agent
