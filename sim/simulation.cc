#include "sim/simulation.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <variant>

#include "agent/node.h"
#include "agent/node_driver.h"
#include "common/hash.h"
#include "common/prng.h"
#include "sim/committed_log_checker.h"
#include "check/linearizability.h"
#include "sim/history_checker.h"
#include "sim/lock_clients.h"
#include "sim/sim_network.h"
#include "store/memory_store.h"

namespace conclave::sim {
namespace {

constexpr int64_t kTickIntervalMs = 10;  // as agent/runtime
constexpr int64_t kClientTimeoutMs = 2000;
constexpr int kKeys = 4;

// "n0 (id 3f2a...), n1 (...)": a voter set as a failure report needs it (a wiped server comes
// back under its old name with a new id).
std::string voter_names(const std::vector<store::ServerRecord>& servers) {
  std::string text;
  for (const store::ServerRecord& server : servers) {
    char id[24];
    std::snprintf(id, sizeof id, "%llx", static_cast<unsigned long long>(server.server_id));
    text += (text.empty() ? "" : ", ") + server.name + " (id " + id + ")";
  }
  return text;
}

struct GossipDatagram {
  std::string from_address;
  gossip::Packet packet;
};
// A connection to a crashed machine is refused: the sender learns it (PeerTransport's
// unreachable notice).
struct Refused {
  std::string name;
};
using NetworkPayload = std::variant<GossipDatagram, wire::PeerMessage, Refused>;

class Simulation;

// The simulator's side of agent::NodeIo: the same driver as the runtime's carries out each
// node's outputs (agent/node_driver.h).
class SimIo : public agent::NodeIo {
 public:
  SimIo(Simulation& simulation, int index) : simulation_(simulation), index_(index) {}
  void send_gossip(gossip::Outgoing packet) override;
  void send_peer(agent::PeerSend send) override;
  void reply(agent::ClientReply reply) override;
  void persist(store::Batch batch) override;

 private:
  Simulation& simulation_;
  int index_;
};

// One simulated machine: its disk survives crashes; the Node does not.
struct Machine {
  std::string name;
  bool server = true;
  std::string gossip_address;
  std::string rpc_address;
  store::MemoryStore disk;
  std::optional<store::RecoveredState> old_disk;  // an earlier copy, for a rollback fault
  bool lost = false;          // lost its disk or was rolled back
  bool wiped = false;         // lost its whole disk: comes back as a new server (a new id)
  raft::NodeId lost_server_id = raft::kNoNode;  // the id its lost disk had
  bool expect_damage = false;  // restarts on a rolled-back disk: must notice
  int64_t start_at_ms = 0;
  std::unique_ptr<agent::Node> node;  // null while crashed
  std::unique_ptr<SimIo> io;
  std::unique_ptr<agent::NodeDriver> driver;
  std::optional<store::Batch> persisting;  // handed to the disk, not yet durable
  int64_t persist_done_ms = 0;
  bool granted_a_vote = false;        // a vote left since the last persist finished
  int64_t next_tick_ms = 0;
  int64_t restart_at_ms = -1;
  raft::Index checked_commit = 0;     // committed prefix already compared with the record
};

struct Client {
  int id = 0;
  bool waiting = false;
  int machine = 0;
  uint64_t request_id = 0;
  size_t operation = 0;  // index into the history
  int64_t give_up_ms = 0;
  int64_t next_action_ms = 0;
  int put_counter = 0;
};

struct CommittedRecord {
  raft::Term term;
  std::string data;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options)
      : options_(options),
        prng_(options.seed),
        network_(prng_),
        committed_checker_(faults()) {}

  SimResult run();

  // For SimIo.
  void send_gossip(int index, gossip::Outgoing packet, int64_t now_ms);
  void send_peer(int index, agent::PeerSend send, int64_t now_ms);
  void deliver_reply(const agent::ClientReply& reply, int64_t now_ms);
  void start_persist(int index, store::Batch batch, int64_t now_ms);
  int64_t now_ms() const { return now_ms_; }

 private:
  void start_node(int index, int64_t now_ms);
  void crash(int index, int64_t now_ms);
  void pump(int index, int64_t now_ms);
  void finish_ready(int index, int64_t now_ms);
  void deliver(const SimNetwork<NetworkPayload>::InFlight& message, int64_t now_ms);
  void check_node(int index, int64_t now_ms);
  void chaos_step(int64_t now_ms);
  void heal(int64_t now_ms);
  void client_step(Client& client, int64_t now_ms, bool may_start);
  void final_checks();
  // The full linearizability search over the kv history (check/linearizability.h).
  void check_linearizability();
  void check_gossip_converged();
  void disk_fault(int victim, int64_t now_ms);
  void feed_committed_checker(int64_t now_ms);
  state::StateMachineFaults faults() const {
    return state::StateMachineFaults{options_.inject_skip_dedup, options_.inject_no_lock_delay};
  }
  void check_one_cluster(int index, int64_t now_ms);
  void violation(int64_t now_ms, const std::string& text);
  void narrate(int64_t now_ms, const std::string& text);
  int index_of_address(const std::string& address) const;
  uint64_t state_hash() const;

  SimOptions options_;
  Prng prng_;
  SimNetwork<NetworkPayload> network_;
  std::vector<Machine> machines_;
  std::vector<Client> clients_;
  std::vector<Operation> history_;
  std::map<raft::Term, std::string> leader_of_term_;
  std::map<raft::Index, CommittedRecord> committed_;
  std::optional<std::pair<uint64_t, std::vector<store::ServerRecord>>> cluster_;
  CommittedLogChecker committed_checker_;
  std::unique_ptr<LockClients> lock_clients_;
  bool chaos_active_ = false;
  int64_t now_ms_ = 0;
  SimResult result_;
};

void Simulation::narrate(int64_t now_ms, const std::string& text) {
  if (options_.verbose) std::fprintf(stderr, "[%8lld ms] %s\n", static_cast<long long>(now_ms), text.c_str());
}

void Simulation::violation(int64_t now_ms, const std::string& text) {
  narrate(now_ms, "VIOLATION: " + text);
  if (result_.violations.size() < 20) {
    result_.violations.push_back("at " + std::to_string(now_ms) + " ms: " + text);
  }
}

int Simulation::index_of_address(const std::string& address) const {
  for (size_t i = 0; i < machines_.size(); ++i) {
    if (machines_[i].gossip_address == address) return static_cast<int>(i);
  }
  return -1;
}

void Simulation::start_node(int index, int64_t now_ms) {
  Machine& machine = machines_[index];
  if (!machine.disk.raw().identity) {
    // A new disk: the agent creates its identity first, as the runtime does.
    store::Batch batch;
    batch.identity = store::Identity{machine.name, prng_.next() | 1, 0};
    machine.disk.persist(batch);
  }
  agent::NodeOptions options;
  options.name = machine.name;
  options.server = machine.server;
  options.gossip_address = machine.gossip_address;
  options.rpc_address = machine.rpc_address;
  options.bootstrap_expect = machine.server ? options_.node_count - options_.extra_servers : 0;
  options.state_machine_faults = faults();
  options.pre_vote = options_.pre_vote;
  options.lease_reads = options_.lease_reads;
  options.inject_stale_reads = options_.inject_stale_reads;
  // Small, so that runs compact their logs and lagging or wiped servers install snapshots.
  options.snapshot_threshold_entries = 48;
  options.snapshot_keep_entries = 8;
  options.join_addresses = {machines_[index == 0 ? 1 : 0].gossip_address};
  options.default_request_timeout_ms = kClientTimeoutMs;
  options.random_seed = prng_.next();
  options.boot_id = prng_.next() | 1;
  options.gossip.initial_incarnation = static_cast<uint64_t>(now_ms);  // as the runtime does
  const store::RecoveredState recovered = machine.disk.load();
  machine.node = std::make_unique<agent::Node>(options, recovered, now_ms);
  machine.io = std::make_unique<SimIo>(*this, index);
  machine.driver = std::make_unique<agent::NodeDriver>(*machine.node, *machine.io);
  if (machine.expect_damage) {
    machine.expect_damage = false;
    if (machine.node->damage().empty() || machine.node->raft() != nullptr) {
      violation(now_ms, machine.name + " restarted on a rolled-back disk and did not notice");
    } else {
      narrate(now_ms, machine.name + " noticed its rolled-back disk: " + machine.node->damage());
    }
  }
  machine.persisting.reset();
  machine.next_tick_ms = now_ms + prng_.between(0, kTickIntervalMs - 1);
  machine.restart_at_ms = -1;
  machine.checked_commit = 0;  // re-check the recovered prefix against the record
  check_node(index, now_ms);
}

void Simulation::crash(int index, int64_t now_ms) {
  Machine& machine = machines_[index];
  if (machine.node) {
    result_.snapshots_installed += machine.node->counters().snapshots_installed;
    result_.snapshots_taken += machine.node->counters().snapshots_taken;
    result_.follower_reads += machine.node->counters().follower_reads_served;
  }
  // Whatever was being persisted is lost: a crash loses unsynced writes.
  machine.driver.reset();
  machine.io.reset();
  machine.node.reset();
  machine.persisting.reset();
  ++result_.crashes;
  narrate(now_ms, "crash " + machine.name);
  if (lock_clients_) lock_clients_->machine_crashed(index, now_ms);
}

void Simulation::check_one_cluster(int index, int64_t now_ms) {
  const agent::Node& node = *machines_[index].node;
  if (node.raft() == nullptr) return;
  result_.cluster_formed = true;
  // Every server that bootstrapped must have bootstrapped the same set, and every server
  // (bootstrapped or joined) must run the same cluster.
  const std::vector<store::ServerRecord>& initial = node.initial_voters();
  if (!cluster_) {
    if (initial.empty()) {
      violation(now_ms, machines_[index].name + " joined cluster " +
                            std::to_string(node.cluster_id()) + " before any server started one");
      return;
    }
    cluster_.emplace(node.cluster_id(), initial);
    narrate(now_ms, machines_[index].name + " starts cluster " + std::to_string(node.cluster_id()) +
                        " with voters " + voter_names(initial));
  } else if (cluster_->first != node.cluster_id() ||
             (!initial.empty() && cluster_->second != initial)) {
    violation(now_ms, "two clusters: " + machines_[index].name + " runs cluster " +
                          std::to_string(node.cluster_id()) + " with initial voters " +
                          voter_names(initial) + ", another node cluster " +
                          std::to_string(cluster_->first) + " with " +
                          voter_names(cluster_->second));
  }
}

void Simulation::check_node(int index, int64_t now_ms) {
  Machine& machine = machines_[index];
  const raft::RawNode* raft = machine.node ? machine.node->raft() : nullptr;
  if (raft == nullptr) return;
  check_one_cluster(index, now_ms);
  if (raft->role() == raft::Role::leader) {
    auto [it, inserted] = leader_of_term_.emplace(raft->term(), machine.name);
    if (inserted) {
      ++result_.leaders_elected;
      narrate(now_ms, machine.name + " leads term " + std::to_string(raft->term()));
    } else if (it->second != machine.name) {
      violation(now_ms, "two leaders in term " + std::to_string(raft->term()) + ": " +
                            it->second + " and " + machine.name);
    }
  }
  result_.max_term = std::max<uint64_t>(result_.max_term, raft->term());
  // Log matching on the committed prefix: what any node ever saw committed at an index is
  // what every node holds there, for ever (Raft §5.4 State Machine Safety).
  const raft::Index commit = raft->commit_index();
  // (Entries compacted away or replaced by an installed snapshot were checked, if ever held,
  // before that.)
  for (raft::Index i = std::max(machine.checked_commit, raft->log_start()) + 1; i <= commit;
       ++i) {
    const raft::Entry& entry = raft->entry_at(i);
    auto [record, inserted] = committed_.emplace(i, CommittedRecord{entry.term, entry.data});
    if (!inserted && (record->second.term != entry.term || record->second.data != entry.data)) {
      violation(now_ms, machine.name + " holds a different committed entry at index " +
                            std::to_string(i) + " (term " + std::to_string(entry.term) +
                            " vs " + std::to_string(record->second.term) + ")");
    }
  }
  machine.checked_commit = std::max(machine.checked_commit, commit);
  feed_committed_checker(now_ms);
}

void Simulation::feed_committed_checker(int64_t now_ms) {
  for (auto next = committed_.find(committed_checker_.applied_index() + 1);
       next != committed_.end(); next = committed_.find(committed_checker_.applied_index() + 1)) {
    const raft::Entry entry{next->second.term, next->first, next->second.data};
    for (const std::string& problem : committed_checker_.on_committed(entry)) {
      violation(now_ms, problem);
    }
  }
}

void SimIo::send_gossip(gossip::Outgoing packet) {
  simulation_.send_gossip(index_, std::move(packet), simulation_.now_ms());
}
void SimIo::send_peer(agent::PeerSend send) {
  simulation_.send_peer(index_, std::move(send), simulation_.now_ms());
}
void SimIo::reply(agent::ClientReply reply) {
  simulation_.deliver_reply(reply, simulation_.now_ms());
}
void SimIo::persist(store::Batch batch) {
  simulation_.start_persist(index_, std::move(batch), simulation_.now_ms());
}

void Simulation::send_gossip(int index, gossip::Outgoing outgoing, int64_t now_ms) {
  const int to = index_of_address(outgoing.to_address);
  if (to < 0) return;
  network_.send(index, to, GossipDatagram{machines_[index].gossip_address,
                                          std::move(outgoing.packet)},
                now_ms);
}

void Simulation::send_peer(int index, agent::PeerSend send, int64_t now_ms) {
  Machine& machine = machines_[index];
  if (const auto* raft = std::get_if<raft::Message>(&send.message.payload)) {
    if (raft->type == raft::MessageType::vote_response && !raft->reject) {
      machine.granted_a_vote = true;
    }
  }
  int to = -1;
  for (size_t i = 0; i < machines_.size(); ++i) {
    if (machines_[i].name == send.to_name) to = static_cast<int>(i);
  }
  if (to < 0) return;
  if (!machines_[to].node && !network_.is_cut(index, to)) {
    // Nobody listens there: the connection is refused and the sender hears of it.
    network_.send(to, index, Refused{send.to_name}, now_ms);
    return;
  }
  network_.send(index, to, std::move(send.message), now_ms);
}

void Simulation::start_persist(int index, store::Batch batch, int64_t now_ms) {
  Machine& machine = machines_[index];
  machine.persisting = std::move(batch);
  // Most fsyncs are quick; a few are slow, as disks are.
  machine.persist_done_ms =
      now_ms + (prng_.chance(0.05) ? prng_.between(20, 100) : prng_.between(0, 3));
}

void Simulation::pump(int index, int64_t now_ms) {
  Machine& machine = machines_[index];
  if (!machine.node) return;
  machine.driver->pump();
  machine.node->take_membership_events();
  machine.node->take_applied_grants();
  for (const std::string& notice : machine.node->take_notices()) {
    if (notice.rfind("autopilot:", 0) == 0) ++result_.membership_changes;
    narrate(now_ms, machine.name + ": " + notice);
  }
  check_node(index, now_ms);
}

void Simulation::finish_ready(int index, int64_t now_ms) {
  Machine& machine = machines_[index];
  store::Batch batch = std::move(*machine.persisting);
  machine.persisting.reset();
  if (options_.inject_forget_votes && batch.hard_state) batch.hard_state->vote = raft::kNoNode;
  machine.disk.persist(batch);
  machine.granted_a_vote = false;
  machine.driver->persisted();  // sends the batch's messages, advances, pumps
  // With votes forgotten on purpose (the checkers' own test), crash after most votes: the
  // fault only shows when a voter restarts while its election is still contested.
  const double crash_after_vote = options_.inject_forget_votes ? 0.8 : 0.2;
  if (machine.granted_a_vote && chaos_active_ && options_.crashes &&
      prng_.chance(crash_after_vote)) {
    // A targeted fault: kill the node just after it voted and bring it back at once, while
    // the election it voted in is still running. Only a durable vote keeps it from voting
    // again in that term.
    crash(index, now_ms);
    machine.restart_at_ms = now_ms + prng_.between(1, 10);
    return;
  }
  pump(index, now_ms);
}

void Simulation::deliver(const SimNetwork<NetworkPayload>::InFlight& message, int64_t now_ms) {
  Machine& machine = machines_[message.to];
  if (!machine.node) return;  // a crashed machine receives nothing
  if (const auto* datagram = std::get_if<GossipDatagram>(&message.payload)) {
    machine.node->receive_gossip(datagram->from_address, datagram->packet, now_ms);
  } else if (const auto* refused = std::get_if<Refused>(&message.payload)) {
    machine.node->peer_unreachable(refused->name, now_ms);
  } else {
    machine.node->receive_peer(std::get<wire::PeerMessage>(message.payload), now_ms);
  }
  pump(message.to, now_ms);
}

void Simulation::deliver_reply(const agent::ClientReply& reply, int64_t now_ms) {
  if (lock_clients_ && lock_clients_->on_reply(reply.connection_id, reply.response, now_ms)) {
    return;
  }
  // Connection ids are client ids + 1.
  const int client_index = static_cast<int>(reply.connection_id) - 1;
  if (client_index < 0 || client_index >= static_cast<int>(clients_.size())) return;
  Client& client = clients_[client_index];
  if (!client.waiting || reply.response.request_id != client.request_id) return;
  Operation& op = history_[client.operation];
  op.response_ms = now_ms;
  client.waiting = false;
  client.next_action_ms = now_ms + prng_.between(10, 200);
  if (reply.response.error_code != ErrorCode::ok) {
    ++result_.requests_failed;
    return;
  }
  op.ok = true;
  if (const auto* put = std::get_if<wire::KvPutResponse>(&reply.response.body)) {
    op.revision = put->revision;
    ++result_.puts_ok;
  } else if (const auto* get = std::get_if<wire::KvGetResponse>(&reply.response.body)) {
    op.found = get->found;
    op.value = get->value;
    op.revision = get->mod_revision;
    ++result_.gets_ok;
  } else {
    violation(now_ms, "a kv request was answered with an unexpected body");
  }
}

void Simulation::client_step(Client& client, int64_t now_ms, bool may_start) {
  if (client.waiting) {
    if (now_ms >= client.give_up_ms) {
      // Lost with its node, or never answered: indeterminate (a put may still apply).
      client.waiting = false;
      history_[client.operation].response_ms = now_ms;
      ++result_.requests_failed;
      client.next_action_ms = now_ms + prng_.between(10, 200);
    }
    return;
  }
  if (!may_start || now_ms < client.next_action_ms) return;
  const int index = static_cast<int>(prng_.below(machines_.size()));
  if (!machines_[index].node) {
    client.next_action_ms = now_ms + 50;
    return;
  }
  Operation op;
  op.client = client.id;
  op.is_put = prng_.chance(0.5);
  op.key = "key" + std::to_string(prng_.below(kKeys));
  op.invoke_ms = now_ms;
  wire::ClientRequest request;
  request.request_id = ++client.request_id;
  request.timeout_ms = kClientTimeoutMs;
  if (op.is_put) {
    op.value = "c" + std::to_string(client.id) + "-" + std::to_string(++client.put_counter);
    request.body = wire::KvPutRequest{op.key, op.value, "", 0};
  } else {
    request.body = wire::KvGetRequest{op.key};
  }
  client.waiting = true;
  client.machine = index;
  client.operation = history_.size();
  client.give_up_ms = now_ms + kClientTimeoutMs + 100;
  history_.push_back(op);
  machines_[index].node->receive_client(static_cast<uint64_t>(client.id) + 1, request, now_ms);
  pump(index, now_ms);
}

void Simulation::heal(int64_t now_ms) {
  network_.heal_all();
  narrate(now_ms, "heal all links");
}

void Simulation::chaos_step(int64_t now_ms) {
  const int count = static_cast<int>(machines_.size());
  const uint64_t roll = prng_.below(100);
  if (roll < 30) {
    NetworkConditions conditions;
    conditions.loss = static_cast<double>(prng_.below(1001)) / 1000.0 * options_.max_loss;
    conditions.duplication = prng_.chance(0.3) ? 0.02 : 0.0;
    conditions.min_delay_ms = 1;
    conditions.max_delay_ms = prng_.between(2, 60);
    network_.set_conditions(conditions);
    narrate(now_ms, "network: loss " + std::to_string(conditions.loss) + ", delay up to " +
                        std::to_string(conditions.max_delay_ms) + " ms");
  } else if (roll < 55 && options_.partitions) {
    std::vector<int> side(count);
    int on_one = 0;
    for (int& s : side) on_one += (s = static_cast<int>(prng_.below(2)));
    if (on_one == 0 || on_one == count) side[prng_.below(count)] ^= 1;
    network_.heal_all();
    std::string description;
    for (int a = 0; a < count; ++a) {
      description += side[a] ? "|" + machines_[a].name : " " + machines_[a].name;
      for (int b = 0; b < count; ++b) {
        if (side[a] != side[b]) network_.cut(a, b);
      }
    }
    ++result_.partitions;
    narrate(now_ms, "partition (| marks one side):" + description);
  } else if (roll < 65 && options_.partitions) {
    const int from = static_cast<int>(prng_.below(count));
    const int to = (from + 1 + static_cast<int>(prng_.below(count - 1))) % count;
    network_.cut(from, to);
    ++result_.partitions;
    narrate(now_ms, "one-way cut " + machines_[from].name + " -> " + machines_[to].name);
  } else if (roll < 75 && options_.partitions) {
    const int isolated = static_cast<int>(prng_.below(count));
    for (int other = 0; other < count; ++other) {
      if (other == isolated) continue;
      network_.cut(isolated, other);
      network_.cut(other, isolated);
    }
    ++result_.partitions;
    narrate(now_ms, "isolate " + machines_[isolated].name);
  } else if (roll < 90) {
    heal(now_ms);
  } else if (options_.crashes) {
    const int victim = static_cast<int>(prng_.below(count));
    if (options_.disk_faults && machines_[victim].server && machines_[victim].node &&
        prng_.chance(0.15)) {
      disk_fault(victim, now_ms);
    } else if (machines_[victim].node) {
      crash(victim, now_ms);
      // Half the restarts are immediate (a supervisor restarting a killed process, which can
      // meet the very election it voted in before); the others come back later.
      machines_[victim].restart_at_ms =
          now_ms + (prng_.chance(0.5) ? prng_.between(1, 50) : prng_.between(300, 4000));
    }
  }
}

void Simulation::disk_fault(int victim, int64_t now_ms) {
  int lost = 0;
  for (const Machine& machine : machines_) lost += machine.lost ? 1 : 0;
  Machine& machine = machines_[victim];
  // Never more than a minority of the voters: beyond that no cluster can make progress.
  if (machine.lost || lost + 1 > (options_.node_count - 1) / 2) return;
  machine.lost_server_id = machine.node->server_id();
  crash(victim, now_ms);
  machine.lost = true;
  machine.restart_at_ms = now_ms + prng_.between(1, 2000);
  if (machine.old_disk && machine.old_disk->persisted_batches < machine.disk.raw().persisted_batches &&
      prng_.chance(0.75)) {
    machine.disk.roll_back_to(*machine.old_disk);
    machine.expect_damage = true;
    ++result_.disks_rolled_back;
    narrate(now_ms, "roll back the disk of " + machine.name + " (a damaged WAL)");
  } else {
    machine.disk.wipe();
    machine.wiped = true;
    ++result_.disks_lost;
    narrate(now_ms, machine.name + " loses its whole disk");
  }
}

// After healing, gossip must have converged: every running agent lists every other running
// agent alive, at the address it runs on (a member still listed dead, suspect or at an old
// address after the heal period is a detection or dissemination bug).
void Simulation::check_gossip_converged() {
  for (const Machine& observer : machines_) {
    if (!observer.node) continue;
    std::map<std::string, gossip::Member> seen;
    for (const gossip::Member& member : observer.node->gossip().members()) {
      seen[member.name] = member;
    }
    for (const Machine& other : machines_) {
      if (!other.node || &other == &observer) continue;
      auto it = seen.find(other.name);
      if (it == seen.end()) {
        violation(-1, "gossip did not converge: " + observer.name + " does not know " +
                          other.name + " after healing");
      } else if (it->second.state != gossip::MemberState::alive ||
                 it->second.address != other.gossip_address) {
        violation(-1, "gossip did not converge: " + observer.name + " lists " + other.name +
                          " as " + gossip::member_state_name(it->second.state) + " at " +
                          it->second.address + " after healing");
      }
    }
  }
}

void Simulation::final_checks() {
  check_gossip_converged();
  raft::Index max_commit = 0;
  for (const Machine& machine : machines_) {
    if (machine.node && machine.node->raft()) {
      max_commit = std::max(max_commit, machine.node->raft()->commit_index());
    }
  }
  result_.final_commit_index = max_commit;
  const Machine* reference = nullptr;
  for (const Machine& machine : machines_) {
    if (machine.wiped && !cluster_) continue;  // no cluster to join
    if (machine.lost && !machine.wiped) {
      // A rolled-back disk stays stopped: it must never vote on a log older than it promised.
      if (machine.node && machine.node->raft()) {
        violation(-1, machine.name + " runs Raft although its disk was rolled back");
      }
      continue;
    }
    if (machine.wiped && machine.node && cluster_) {
      // A wiped disk is a new server: the autopilot adds it as a learner (and may promote
      // it). It must never take part under the server id its lost log had.
      if (machine.node->server_id() == machine.lost_server_id) {
        violation(-1, machine.name + " came back from a lost disk with its old server id");
      }
      if (!machine.node->raft() || machine.node->state_machine().applied_index() != max_commit) {
        const std::string& why = machine.node->raft_report();
        violation(-1, machine.name + " lost its disk and did not catch up as a new server "
                                     "after healing (applied " +
                          std::to_string(machine.node->state_machine().applied_index()) +
                          " of " + std::to_string(max_commit) + ")" +
                          (why.empty() ? "" : "; it says: " + why));
      }
      continue;
    }
    const bool voter = cluster_ && std::any_of(cluster_->second.begin(), cluster_->second.end(),
                                               [&](const store::ServerRecord& server) {
                                                 return server.name == machine.name;
                                               });
    if (!machine.server) continue;  // client agents run no Raft
    if (options_.extra_servers > 0 && !voter) continue;  // waits to be added, or refused
    if (!machine.node || !machine.node->raft()) {
      violation(-1, machine.name + " never started Raft (bootstrap did not complete), or "
                                   "stopped it: " +
                        (machine.node ? machine.node->raft_report() : std::string("crashed")));
      continue;
    }
    if (reference == nullptr) reference = &machine;
    const state::StateMachine& state = machine.node->state_machine();
    if (state.applied_index() != max_commit) {
      violation(-1, machine.name + " applied " + std::to_string(state.applied_index()) +
                        " entries after healing; the cluster committed " +
                        std::to_string(max_commit));
    }
    const state::StateMachine& reference_state = reference->node->state_machine();
    if (state.state_hash() != reference_state.state_hash() &&
        state.applied_index() == reference_state.applied_index()) {
      violation(-1, machine.name + " has a different state than " + reference->name +
                        " at the same applied index");
    }
  }
  // The fast pre-check (revision order, phantom and stale reads), then the full search.
  for (const std::string& problem : check_history(history_)) violation(-1, problem);
  check_linearizability();
}

void Simulation::check_linearizability() {
  std::vector<check::Operation> operations;
  for (const Operation& op : history_) {
    check::Operation converted;
    converted.client = op.client;
    converted.key = op.key;
    converted.invoke_ms = op.invoke_ms;
    if (op.is_put) {
      converted.kind = check::OpKind::write;
      converted.written = op.value;
      // A put without an answer (or with an error) may still be applied later.
      converted.outcome = op.ok ? check::Outcome::ok : check::Outcome::unknown;
    } else {
      converted.kind = check::OpKind::read;
      converted.outcome = op.ok ? check::Outcome::ok : check::Outcome::fail;
      if (op.found) converted.observed = op.value;
    }
    if (op.ok) converted.response_ms = op.response_ms;
    operations.push_back(std::move(converted));
  }
  auto verdict = check::check_linearizable(operations);
  if (!verdict.ok()) {
    violation(-1, "the recorded history is malformed: " + verdict.error().message);
    return;
  }
  for (const check::KeyVerdict& key : verdict.value().keys) {
    if (key.verdict == check::Verdict::violation) {
      std::string report = "not linearizable: " + key.explanation;
      for (const std::string& line : key.slice) report += "\n    " + line;
      violation(-1, report);
    } else if (key.verdict == check::Verdict::inconclusive) {
      ++result_.linearizability_inconclusive;
    }
  }
}

uint64_t Simulation::state_hash() const {
  uint64_t hash = fnv1a64(std::to_string(options_.seed));
  for (const Machine& machine : machines_) {
    if (!machine.node) continue;
    hash = fnv1a64(std::to_string(machine.node->state_machine().state_hash()), hash);
    if (const raft::RawNode* raft = machine.node->raft()) {
      hash = fnv1a64(std::to_string(raft->term()) + "/" +
                                std::to_string(raft->commit_index()) + "/" +
                                std::to_string(raft->last_index()),
                            hash);
    }
  }
  for (const Operation& op : history_) {
    hash = fnv1a64(op.key + "=" + op.value + "@" + std::to_string(op.response_ms) + "/" +
                              std::to_string(op.revision) + (op.ok ? "+" : "-"),
                          hash);
  }
  return hash;
}

SimResult Simulation::run() {
  result_.seed = options_.seed;
  for (int i = 0; i < options_.node_count + options_.client_agents; ++i) {
    Machine machine;
    machine.server = i < options_.node_count;
    machine.name = (machine.server ? "n" : "c") +
                   std::to_string(machine.server ? i : i - options_.node_count);
    machine.gossip_address = machine.name + ":7946";
    machine.rpc_address = machine.name + ":8300";
    machines_.push_back(std::move(machine));
  }
  if (options_.lock_clients > 0) {
    LockClientsHost host;
    host.alive = [this](int machine) { return machines_[machine].node != nullptr; };
    host.send = [this](int machine, uint64_t connection, const wire::ClientRequest& request) {
      machines_[machine].node->receive_client(connection, request, now_ms_);
      pump(machine, now_ms_);
    };
    host.disconnect = [this](int machine, uint64_t connection) {
      machines_[machine].node->client_disconnected(connection, now_ms_);
      pump(machine, now_ms_);
    };
    host.violation = [this](const std::string& text) { violation(now_ms_, text); };
    host.narrate = [this](const std::string& text) { narrate(now_ms_, text); };
    host.machine_count = static_cast<int>(machines_.size());
    lock_clients_ = std::make_unique<LockClients>(options_.lock_clients, std::move(host), prng_);
  }
  for (size_t i = 0; i < machines_.size(); ++i) {
    // With extra servers they come up one by one, as people start them.
    machines_[i].start_at_ms = options_.extra_servers > 0 ? prng_.between(0, 2500) : 0;
    if (machines_[i].start_at_ms == 0) {
      start_node(static_cast<int>(i), 0);
    } else {
      machines_[i].restart_at_ms = machines_[i].start_at_ms;
    }
  }
  for (int i = 0; i < options_.clients; ++i) {
    Client client;
    client.id = i;
    client.next_action_ms = options_.calm_start_ms;
    clients_.push_back(client);
  }

  const int64_t chaos_end_ms = options_.calm_start_ms + options_.chaos_ms;
  const int64_t clients_stop_ms = chaos_end_ms + options_.heal_ms / 2;
  const int64_t end_ms = chaos_end_ms + options_.heal_ms;
  int64_t next_chaos_ms = options_.calm_start_ms;
  bool healed = false;

  for (int64_t now = 0; now <= end_ms && result_.violations.empty(); ++now) {
    now_ms_ = now;
    chaos_active_ = now >= options_.calm_start_ms && now < chaos_end_ms;
    if (now >= next_chaos_ms && now < chaos_end_ms) {
      chaos_step(now);
      next_chaos_ms = now + prng_.between(300, 2500);
      // Keep an old copy of one disk now and then: a later rollback fault restores it.
      for (Machine& keeper : machines_) {
        if (keeper.node && !keeper.lost && prng_.chance(0.5)) keeper.old_disk = keeper.disk.raw();
      }
    }
    if (now >= chaos_end_ms && !healed) {
      healed = true;
      heal(now);
      network_.set_conditions(NetworkConditions{});
      for (size_t i = 0; i < machines_.size(); ++i) {
        if (!machines_[i].node) machines_[i].restart_at_ms = now;
      }
    }
    for (size_t i = 0; i < machines_.size(); ++i) {
      if (!machines_[i].node && machines_[i].restart_at_ms >= 0 &&
          now >= machines_[i].restart_at_ms) {
        narrate(now, "restart " + machines_[i].name);
        start_node(static_cast<int>(i), now);
      }
    }
    SimNetwork<NetworkPayload>::InFlight message;
    while (network_.next_due(now, message)) deliver(message, now);
    for (size_t i = 0; i < machines_.size(); ++i) {
      Machine& machine = machines_[i];
      if (!machine.node) continue;
      if (machine.persisting && now >= machine.persist_done_ms) {
        finish_ready(static_cast<int>(i), now);
        if (!machine.node) continue;  // crashed right after voting (a targeted fault)
      }
      if (now >= machine.next_tick_ms) {
        machine.node->tick(now);
        machine.next_tick_ms += kTickIntervalMs;
        pump(static_cast<int>(i), now);
      }
    }
    for (Client& client : clients_) client_step(client, now, now < clients_stop_ms);
    if (lock_clients_) lock_clients_->step(now, now < clients_stop_ms);
  }
  if (result_.violations.empty()) final_checks();
  if (lock_clients_) {
    result_.lock_grants = lock_clients_->stats().grants;
    result_.locks_lost = lock_clients_->stats().lost;
    result_.stale_writes_refused = lock_clients_->stats().stale_writes_refused;
  }
  for (const Machine& machine : machines_) {
    if (!machine.node) continue;
    result_.snapshots_installed += machine.node->counters().snapshots_installed;
    result_.snapshots_taken += machine.node->counters().snapshots_taken;
    result_.follower_reads += machine.node->counters().follower_reads_served;
  }
  result_.fifo_grants_checked = committed_checker_.fifo_grants_checked();
  result_.duplicates_answered = committed_checker_.duplicates_answered();
  result_.messages_sent = network_.sent();
  result_.messages_dropped = network_.dropped();
  result_.final_state_hash = state_hash();
  return result_;
}

}  // namespace

std::string SimResult::summary() const {
  char text[640];
  std::snprintf(text, sizeof(text),
                "seed %llu: %s; puts ok %llu, gets ok %llu, failed %llu, leaders %llu, max term "
                "%llu, commit %llu, crashes %llu, partitions %llu, disks lost %llu, rolled back "
                "%llu, membership changes %llu, snapshots taken %llu, installed %llu, messages %llu "
                "(dropped %llu), state hash %016llx",
                static_cast<unsigned long long>(seed),
                violations.empty() ? "ok" : "VIOLATIONS",
                static_cast<unsigned long long>(puts_ok), static_cast<unsigned long long>(gets_ok),
                static_cast<unsigned long long>(requests_failed),
                static_cast<unsigned long long>(leaders_elected),
                static_cast<unsigned long long>(max_term),
                static_cast<unsigned long long>(final_commit_index),
                static_cast<unsigned long long>(crashes),
                static_cast<unsigned long long>(partitions),
                static_cast<unsigned long long>(disks_lost),
                static_cast<unsigned long long>(disks_rolled_back),
                static_cast<unsigned long long>(membership_changes),
                static_cast<unsigned long long>(snapshots_taken),
                static_cast<unsigned long long>(snapshots_installed),
                static_cast<unsigned long long>(messages_sent),
                static_cast<unsigned long long>(messages_dropped),
                static_cast<unsigned long long>(final_state_hash));
  std::string out = text;
  if (linearizability_inconclusive > 0) {
    out += "; linearizability search inconclusive on " +
           std::to_string(linearizability_inconclusive) + " keys";
  }
  return out;
}

SimResult run_simulation(const SimOptions& options) {
  Simulation simulation(options);
  return simulation.run();
}

}  // namespace conclave::sim
