// Simulation: N whole agents (agent::Node, the same code as the binary) in one process, over a
// simulated network and simulated disks, in virtual time. One 64-bit seed picks everything —
// the nodes' own seeds, message delays and losses, partitions, crashes, the client workload —
// so one seed replays one run exactly.
//
// A run: the nodes start and bootstrap a Raft group through gossip; then a chaos phase (random
// loss up to max_loss, delays, duplication, partitions, one-way cuts, crashes that lose unsynced
// writes, restarts) while clients put and get; then everything heals and the cluster must
// converge. Checkers run outside the nodes, after every input:
//   - at most one leader per term;
//   - a committed entry never changes or disappears (every node's committed prefix agrees with
//     every other's, across crashes);
//   - client histories are consistent with a linearizable store (history_checker.h);
//   - after healing, every node holds the same state (same applied index and state hash);
//   - one cluster: every node that runs Raft has the same cluster id and initial voter set
//     (bootstrap by promise, agent/bootstrap.h), also when more servers start than
//     bootstrap_expect;
//   - a node restarted on a rolled-back disk (a damaged WAL) notices and never runs Raft;
//   - on the committed log (committed_log_checker.h): fencing tokens strictly increase per
//     lock, no lock has more holders than slots or a holder whose session ended, waiters are
//     granted in FIFO order, no client write takes effect twice;
//   - programs holding locks (lock_clients.h): never more holders using a lock at once than it
//     has slots, as the holders themselves see it (lost notices come in time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::sim {

struct SimOptions {
  uint64_t seed = 1;
  int node_count = 5;
  int64_t calm_start_ms = 3000;  // bootstrap (promises, then an election) before the chaos
  int64_t chaos_ms = 20000;
  int64_t heal_ms = 15000;       // time allowed to converge after healing
  double max_loss = 0.2;
  bool partitions = true;
  bool crashes = true;
  int clients = 3;              // key/value clients (puts and gets), on any agent
  int client_agents = 2;        // agents started without -server, beside the servers
  int lock_clients = 0;         // programs taking locks through any agent (lock_clients.h)
  bool verbose = false;          // narrate the run on stderr (for replaying one seed)
  // Disk faults during chaos: a crash that loses the whole disk (the node comes back as a new
  // server, outside the voter set) or that rolls the disk back to an older copy (a damaged
  // WAL, which the node must detect). At most (node_count - 1) / 2 nodes are lost this way.
  bool disk_faults = true;
  // Servers beyond bootstrap_expect (bootstrap_expect = node_count - extra_servers); they all
  // start at random times in the first 2.5 s. Either one cluster of bootstrap_expect forms
  // and the others wait, or they refuse; never two.
  int extra_servers = 0;
  // Fault injection, to show the checkers catch real bugs: the disks silently forget every
  // vote they are given (an fsync that lies), so a restarted node may vote twice in a term.
  bool inject_forget_votes = false;
  // Raft pre-vote (on in the binary). Off only to show a checker failing: with pre-vote, the
  // elections that a forgotten vote can corrupt are rare.
  bool pre_vote = true;
  bool lease_reads = false;  // raft::Config::lease_reads
  // The state machine applies retried writes again / frees a failed holder's slot at once: the
  // committed-log and lock checkers must object.
  bool inject_skip_dedup = false;
  bool inject_no_lock_delay = false;
  // Servers answer every get from their own state (agent::NodeOptions::inject_stale_reads).
  bool inject_stale_reads = false;
};

struct SimResult {
  uint64_t seed = 0;
  std::vector<std::string> violations;  // empty: the run passed every checker
  uint64_t final_state_hash = 0;        // equal for equal runs
  uint64_t puts_ok = 0;
  uint64_t gets_ok = 0;
  uint64_t requests_failed = 0;
  uint64_t leaders_elected = 0;
  uint64_t max_term = 0;
  uint64_t final_commit_index = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t disks_lost = 0;
  uint64_t disks_rolled_back = 0;
  uint64_t membership_changes = 0;  // proposed by the leaders' autopilot
  uint64_t snapshots_taken = 0;     // log compactions
  uint64_t snapshots_installed = 0;  // by servers behind a leader's compacted log
  uint64_t follower_reads = 0;       // linearizable gets served by followers (ReadIndex)
  bool cluster_formed = false;  // some node started Raft
  uint64_t lock_grants = 0;     // grants the programs received
  uint64_t locks_lost = 0;      // holders that stopped on a lost notice or their validity
  uint64_t stale_writes_refused = 0;
  uint64_t fifo_grants_checked = 0;
  uint64_t duplicates_answered = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;
  // Keys whose linearizability search ran out of budget (neither passed nor failed).
  uint64_t linearizability_inconclusive = 0;

  std::string summary() const;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace conclave::sim
