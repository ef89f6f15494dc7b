#include "agent/node_driver.h"

#include "common/check.h"

namespace conclave::agent {

void NodeDriver::send_immediate() {
  for (gossip::Outgoing& packet : node_.take_gossip_packets()) io_.send_gossip(std::move(packet));
  for (PeerSend& send : node_.take_peer_sends()) io_.send_peer(std::move(send));
  for (ClientReply& reply : node_.take_client_replies()) io_.reply(std::move(reply));
}

void NodeDriver::pump() {
  // Bounded: each round either starts a persist (and returns) or finishes an empty batch,
  // which consumes what the node had ready.
  for (int round = 0; round < 1000; ++round) {
    send_immediate();
    if (in_flight_ || !node_.has_ready()) return;
    in_flight_ = node_.ready();
    send_immediate();  // answers of the entries just applied
    for (PeerSend& send : in_flight_->messages_before_persist) io_.send_peer(std::move(send));
    if (!in_flight_->batch.empty()) {
      io_.persist(std::move(in_flight_->batch));
      return;
    }
    // Nothing to make durable (heartbeats, acks of entries already persisted).
    finish();
  }
}

void NodeDriver::persisted() {
  CONCLAVE_CHECK(in_flight_.has_value(), "persisted() without a batch in flight");
  finish();
  pump();
}

void NodeDriver::finish() {
  for (PeerSend& send : in_flight_->messages) io_.send_peer(std::move(send));
  in_flight_.reset();
  node_.advance();
}

}  // namespace conclave::agent
