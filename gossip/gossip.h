// Gossip: SWIM-style membership and failure detection, as a pure, single-threaded state
// machine.
//
// Inputs: join(seeds), step(from_address, packet, now_ms), tick(now_ms). Outputs, taken by the
// caller after any input: packets to send (take_outgoing) and membership events (take_events).
// Time is passed in (milliseconds on any monotonic scale); randomness comes only from the seed.
//
// Protocol (SWIM, Das et al. 2002): every probe interval the node pings the next member of a
// shuffled round-robin list; with no Ack within the probe timeout it asks `indirect_probes`
// other members to ping it (PingReq); with no Ack by the end of the interval the member becomes
// suspect; a suspect that does not refute (a higher incarnation) within the suspicion timeout is
// declared dead. State changes are disseminated by piggybacking on probe traffic and by
// periodic gossip to `gossip_fanout` random members, each update retransmitted a bounded number
// of times. Join and periodic anti-entropy use Sync (push-pull). Lifeguard refinements come
// later behind this interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gossip/types.h"

namespace conclave::gossip {

struct Options {
  std::string name;     // unique in the cluster
  std::string address;  // host:port other members reach this node's UDP socket at
  std::string metadata; // what this node says about itself (opaque, <= kMaxMetadataBytes)
  int64_t probe_interval_ms = 250;
  int64_t probe_timeout_ms = 100;
  int indirect_probes = 3;
  int64_t gossip_interval_ms = 100;
  int gossip_fanout = 3;
  // Suspicion timeout = suspicion_multiplier * max(1, log10(N)) * probe_interval_ms.
  double suspicion_multiplier = 3.0;
  // Each update is retransmitted retransmit_multiplier * ceil(log10(N + 1)) times.
  int retransmit_multiplier = 4;
  int64_t push_pull_interval_ms = 15000;
  // Members declared dead are still gossiped to for this long (memberlist's GossipToTheDead),
  // so one that was only cut off hears it and refutes as soon as the partition heals. Not
  // scaled by the probe interval: it must outlast common partitions.
  int64_t gossip_to_the_dead_ms = 30000;
  // Dead members are forgotten after this long (their name may then rejoin fresh).
  int64_t dead_member_reap_ms = 24LL * 3600 * 1000;
  size_t max_packet_bytes = 1400;
  size_t max_members = 10000;          // a Sync or update beyond this is ignored and counted
  size_t max_broadcast_queue = 4096;   // oldest updates are dropped beyond this
};

struct Member {
  std::string name;
  std::string address;
  uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  std::string metadata;          // as the member itself last said it
  int64_t state_changed_ms = 0;  // on this node's clock
};

enum class EventType : uint8_t { joined, updated, suspected, failed, left };

struct Event {
  EventType type;
  Member member;
};

struct Outgoing {
  std::string to_address;
  Packet packet;
};

struct Counters {
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t probes_sent = 0;
  uint64_t indirect_probes_sent = 0;
  uint64_t suspicions_raised = 0;
  uint64_t members_failed = 0;
  uint64_t refutations = 0;
  uint64_t updates_dropped = 0;   // broadcast queue over its limit, or member table full
};

class Gossip {
 public:
  // Precondition: options.name and options.address are non-empty and within the limits in
  // types.h. The node starts as the only member (alive, incarnation 0).
  Gossip(Options options, uint64_t random_seed, int64_t now_ms);
  ~Gossip();
  Gossip(const Gossip&) = delete;
  Gossip& operator=(const Gossip&) = delete;

  // Sends a Sync to each seed address (other than our own) now; repeated by the caller's
  // retry policy if the cluster is not reached.
  void join(const std::vector<std::string>& seed_addresses, int64_t now_ms);

  // Handles one inbound packet. `from_address` is the datagram's source (host:port).
  void step(const std::string& from_address, const Packet& packet, int64_t now_ms);

  // Runs timers: probes, probe timeouts, suspicion timeouts, gossip and push-pull rounds.
  // Call at least every 10 ms.
  void tick(int64_t now_ms);

  // Replaces what this node says about itself and spreads it under a new incarnation (so it
  // overrides the old metadata everywhere). A no-op when unchanged or while leaving.
  // Precondition: metadata.size() <= kMaxMetadataBytes.
  void set_metadata(std::string metadata, int64_t now_ms);

  // Graceful leave: marks this node left (at its current incarnation, which overrides alive)
  // and disseminates that. Afterwards the node still answers probes and gossips, so the news
  // spreads, but it no longer probes, syncs or refutes. Idempotent.
  void leave(int64_t now_ms);

  std::vector<Outgoing> take_outgoing();
  std::vector<Event> take_events();

  // Every member this node knows, itself included, sorted by name.
  std::vector<Member> members() const;
  // Number of members not dead or left, itself included.
  size_t alive_count() const;
  const Options& options() const;
  const Counters& counters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace conclave::gossip
