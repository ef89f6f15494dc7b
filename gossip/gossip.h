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
// of times. Join and periodic anti-entropy use Sync (push-pull).
//
// Lifeguard (Dadgar et al. 2018), on by default: a local health score stretches this node's own
// probe interval and timeout when its probes fail without the relays' nacks to show the target
// is really silent; suspicion timeouts start at suspicion_max_multiplier times the SWIM timeout
// and shrink to it as other members independently confirm (gossip/suspicion.h). The stall
// guard: a tick that comes long after the previous one (this process was not running) times
// nothing out; every pending deadline moves by the gap, so queued acks and refutations are read
// first.
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
  // Our first incarnation. The agent passes its wall clock in milliseconds, so a restarted
  // agent speaks above everything its previous life said (which others may still hold, with
  // metadata that no longer holds) without waiting to hear it and refute. Refutation still
  // covers a clock that went back.
  uint64_t initial_incarnation = 0;
  // The cluster this node belongs to (0: none yet), carried in every packet and in its own
  // member record. Once it is set, packets and member records of another cluster are dropped
  // (a packet is answered with WrongCluster), so one agent given -join addresses in two
  // clusters never merges their pools. Set later with set_cluster_id.
  uint64_t cluster_id = 0;
  int64_t probe_interval_ms = 250;
  // Every other probe goes to our successor on a hash ring of the members, so each member is
  // probed at least every two intervals by its predecessor (gossip/probe_schedule.h); off:
  // SWIM's shuffled round robin alone.
  bool ring_probes = true;
  int64_t probe_timeout_ms = 100;
  int indirect_probes = 3;
  int64_t gossip_interval_ms = 100;
  int gossip_fanout = 3;
  // Suspicion timeout = suspicion_multiplier * max(1, log10(N)) * probe_interval_ms: the
  // shortest one, reached with suspicion_confirmations independent confirmations.
  double suspicion_multiplier = 2.0;
  // Lifeguard (see above). Off: fixed timeouts, no nacks, every suspicion the shortest.
  bool lifeguard = true;
  // The longest suspicion timeout, for a suspicion nobody else confirms, as a multiple of the
  // shortest (memberlist's SuspicionMaxTimeoutMult).
  double suspicion_max_multiplier = 6.0;
  // Confirmations that bring a suspicion down to the shortest timeout (at most N - 2).
  int suspicion_confirmations = 1;
  // The local health score's ceiling: probe interval and timeout stretch up to (max + 1) times.
  int max_local_health = 8;
  // A tick more than this after the previous one means the process was stalled (0: no guard).
  int64_t stall_threshold_ms = 100;
  // Also probe over TCP (TcpProbe) when the direct UDP probe goes unanswered.
  bool tcp_fallback = true;
  // Push-pull over TCP (TcpSync): periodic exchanges go as one frame over the agent's
  // connection instead of many datagrams. A join itself is a datagram to the seed address
  // (the only address a joiner has); the seed answers it with datagrams and also as one
  // frame, so a lost datagram no longer leaves a joiner with part of the list until the next
  // round, and a TCP connection still backing off from a partition delays nothing.
  bool tcp_push_pull = true;
  // Each update is retransmitted retransmit_multiplier * ceil(log10(N + 1)) times.
  int retransmit_multiplier = 4;
  // Push-pull every push_pull_interval_ms * max(1, N / push_pull_scale_members): a Sync
  // carries the whole member list, so beyond that many members the interval grows with N and
  // anti-entropy costs each member the same bytes per second at any cluster size.
  int64_t push_pull_interval_ms = 15000;
  size_t push_pull_scale_members = 16;
  // Members declared dead are still gossiped to for this long (memberlist's GossipToTheDead),
  // so one that was only cut off hears it and refutes as soon as the partition heals. Not
  // scaled by the probe interval: it must outlast common partitions.
  int64_t gossip_to_the_dead_ms = 30000;
  // Push-pull also picks members dead for less than this (the reconnect attempts that heal a
  // partition); after it, a dead member costs nothing until it is reaped.
  int64_t dead_member_reconnect_ms = 3600LL * 1000;
  // Dead and left members are forgotten after this long (event `reaped`).
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
  uint64_t cluster_id = 0;       // likewise
  int64_t state_changed_ms = 0;  // on this node's clock
};

// `reaped`: forgotten, after dead_member_reap_ms as dead or left, or at once as a member of
// another cluster.
enum class EventType : uint8_t { joined, updated, suspected, failed, left, reaped };

struct Event {
  EventType type;
  Member member;
};

// A name claimed by two agents (see NameConflict in types.h), as reported to the agent.
struct Conflict {
  std::string name;
  std::string holder_address;
  std::string claimant_address;
  bool refused = false;  // this node is the claimant: it must stop
};

// A member of another cluster that we met and dropped (see Options::cluster_id).
struct ForeignCluster {
  std::string address;       // where its packet came from
  uint64_t cluster_id = 0;   // its cluster
};

// A probe to send over TCP (the agent's connection to the member) because the UDP one went
// unanswered: a host whose UDP is filtered is not declared failed while TCP reaches it.
// Answer with tcp_probe_answered(sequence).
struct TcpProbe {
  uint64_t sequence = 0;
  std::string target;  // the member's name
};

// A Sync to send over TCP to member `target` (by name: the agent's connection to it), as one
// frame. If the agent cannot reach it over TCP (no address for it yet), it hands it back with
// tcp_sync_undeliverable and it goes as datagrams instead.
struct TcpSync {
  std::string target;
  Packet packet;  // one Sync message, at most kMaxSyncStreamBytes by the bound
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
  uint64_t nacks_sent = 0;
  uint64_t nacks_received = 0;
  uint64_t stalls_detected = 0;    // ticks the stall guard held back
  uint64_t suspicion_confirmations = 0;  // independent confirmations heard
  uint64_t name_conflicts = 0;     // claims to a live member's name, seen or told of
  uint64_t wrong_cluster_dropped = 0;  // packets and member records of another cluster
  uint64_t tcp_probes = 0;             // TCP fallback probes asked for
  uint64_t tcp_probes_answered = 0;    // ... that saved a probe the UDP ones had lost
  uint64_t tcp_syncs_sent = 0;         // push-pull frames handed to the agent for TCP
  uint64_t tcp_syncs_received = 0;
  uint64_t tcp_syncs_undeliverable = 0;  // handed back: sent as datagrams instead
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
  // After leave(): the news has had its full share of retransmissions (or could not be
  // queued at all, or there is no live member to tell), so stopping now loses nothing.
  bool leave_spread() const;

  std::vector<Outgoing> take_outgoing();
  std::vector<Event> take_events();
  // Name conflicts seen or told of since the last call (for the agent to log, and to stop on
  // one with `refused`).
  std::vector<Conflict> take_conflicts();
  // TCP fallback probes to send since the last call (see TcpProbe).
  std::vector<TcpProbe> take_tcp_probes();
  // The member answered our TCP probe `sequence`: the probe in flight, if it is that one,
  // counts as answered (late: it does not improve our health score).
  void tcp_probe_answered(uint64_t sequence);

  // Syncs to send over TCP since the last call (see TcpSync).
  std::vector<TcpSync> take_tcp_syncs();
  // A Sync the agent received over TCP (a frame from the member packet.from). Only Sync
  // messages are read; the answer to a push goes back over TCP.
  void step_tcp(const Packet& packet, int64_t now_ms);
  // The agent could not send `sync` over TCP: it goes to the member's UDP address instead.
  void tcp_sync_undeliverable(const TcpSync& sync);

  // Members of other clusters met since the last call (for the agent to report).
  std::vector<ForeignCluster> take_foreign_clusters();

  // Joins cluster `cluster_id` (nonzero): says so in our record (a new incarnation) and every
  // packet, and forgets every member that says it belongs to another. A no-op when unchanged.
  void set_cluster_id(uint64_t cluster_id, int64_t now_ms);

  // Every member this node knows, itself included, sorted by name.
  std::vector<Member> members() const;
  // Number of members not dead or left, itself included.
  size_t alive_count() const;
  // Updates waiting in the broadcast queue (0 once everything known has been spread).
  size_t queued_updates() const;
  const Options& options() const;
  const Counters& counters() const;
  // Lifeguard's local health score (0 = healthy, up to max_local_health).
  int local_health() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace conclave::gossip
