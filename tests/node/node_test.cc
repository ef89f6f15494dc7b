#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "agent/bootstrap.h"
#include "agent/node.h"
#include "agent/node_driver.h"
#include "store/memory_store.h"
#include "wire/codec.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

constexpr raft::NodeId kSoloId = 3;

NodeOptions single_server_options() {
  NodeOptions options;
  options.name = "solo";
  options.server = true;
  options.gossip_address = "127.0.0.1:8301";
  options.rpc_address = "127.0.0.1:8300";
  options.bootstrap_expect = 1;
  options.bootstrap_settle_ms = 0;
  options.random_seed = 99;
  options.boot_id = 77;
  return options;
}

// A data folder as the runtime hands it over: new, with its identity already created.
store::RecoveredState new_folder(const std::string& name = "solo", raft::NodeId id = kSoloId) {
  store::RecoveredState state;
  state.identity = store::Identity{name, id, 0};
  return state;
}

// Plays the runtime's part for a node that talks to nobody, through the same driver: batches
// go to a MemoryStore, client replies are collected, peer messages dropped.
struct TestIo : NodeIo {
  store::MemoryStore* disk = nullptr;
  std::optional<store::Batch> pending;
  std::vector<ClientReply> replies;
  std::vector<PeerSend> peer_sends;
  void send_gossip(gossip::Outgoing) override {}
  void send_peer(PeerSend send) override { peer_sends.push_back(std::move(send)); }
  void reply(ClientReply reply) override { replies.push_back(std::move(reply)); }
  void persist(store::Batch batch) override { pending = std::move(batch); }
};

struct Harness {
  explicit Harness(Node& node, store::MemoryStore* disk = nullptr) : driver(node, io) {
    io.disk = disk;
  }
  // Runs ticks at now_ms and persists until the node is idle; returns the replies.
  std::vector<ClientReply> drain(Node& node, int64_t now_ms) {
    for (int round = 0; round < 100; ++round) {
      driver.pump();
      if (io.pending) {
        if (io.disk != nullptr) io.disk->persist(*io.pending);
        io.pending.reset();
        driver.persisted();
        continue;
      }
      node.tick(now_ms);
      driver.pump();
      if (!io.pending) break;
    }
    return std::exchange(io.replies, {});
  }
  TestIo io;
  NodeDriver driver;
};

std::vector<ClientReply> drain(Node& node, int64_t now_ms) {
  static std::map<Node*, std::unique_ptr<Harness>> harnesses;
  auto& harness = harnesses[&node];
  if (!harness) harness = std::make_unique<Harness>(node);
  return harness->drain(node, now_ms);
}

wire::ClientRequest request(uint64_t id, wire::ClientRequestBody body) {
  wire::ClientRequest result;
  result.request_id = id;
  result.body = std::move(body);
  return result;
}

}  // namespace

TEST_CASE("a single server bootstraps at once and answers puts and gets in order") {
  Node node(single_server_options(), new_folder(), 0);
  node.tick(0);
  drain(node, 0);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.raft()->role() == raft::Role::leader);
  CHECK(node.leader_name() == "solo");

  // Each request after the previous one was answered (concurrent ones may be answered in
  // either order: a read confirmed by ReadIndex does not wait for writes still in flight).
  std::vector<ClientReply> replies;
  auto ask = [&](uint64_t id, wire::ClientRequestBody body) {
    node.receive_client(7, request(id, std::move(body)), 10);
    auto answered = drain(node, 10);
    REQUIRE(answered.size() == 1);
    CHECK(answered[0].connection_id == 7);
    CHECK(answered[0].response.request_id == id);
    INFO(answered[0].response.error_message);
    CHECK(answered[0].response.error_code == ErrorCode::ok);
    replies.push_back(answered[0]);
  };
  ask(1, wire::KvPutRequest{"a", "1", "", 0});
  ask(2, wire::KvPutRequest{"a", "2", "", 0});
  ask(3, wire::KvGetRequest{"a"});
  ask(4, wire::KvGetRequest{"missing"});
  CHECK(std::get<wire::KvPutResponse>(replies[0].response.body).revision == 1);
  CHECK(std::get<wire::KvPutResponse>(replies[1].response.body).revision == 2);
  const auto& got = std::get<wire::KvGetResponse>(replies[2].response.body);
  CHECK(got.found);
  CHECK(got.value == "2");
  CHECK(got.create_revision == 1);
  CHECK(got.mod_revision == 2);
  CHECK_FALSE(std::get<wire::KvGetResponse>(replies[3].response.body).found);
  // Reads add no log entries (ReadIndex): two puts, the no-op, and nothing else.
  CHECK(node.raft()->last_index() == 3);
}

TEST_CASE("a lone server promises, then starts; the batches record promise, voters and state") {
  Node node(single_server_options(), new_folder(), 0);
  node.tick(0);
  REQUIRE(node.has_ready());
  NodeReady promise = node.ready();
  REQUIRE(promise.batch.promise);
  CHECK(promise.batch.promise->servers == std::vector<store::ServerRecord>{{kSoloId, "solo"}});
  CHECK(node.raft() == nullptr);  // not before the promise is durable
  node.advance();
  node.tick(1);
  REQUIRE(node.raft() != nullptr);
  NodeReady first = node.ready();
  CHECK(first.batch.voters == std::vector<store::ServerRecord>{{kSoloId, "solo"}});
  REQUIRE(first.batch.identity);
  CHECK(first.batch.identity->cluster_id == node.cluster_id());
  CHECK(node.cluster_id() == server_set_digest(first.batch.voters));
  node.advance();
  node.receive_client(1, request(1, wire::KvPutRequest{"k", "v", "", 0}), 5);
  store::Batch combined;
  for (int round = 0; round < 10 && node.has_ready(); ++round) {
    NodeReady ready = node.ready();
    for (auto& upsert : ready.batch.state.upserts) combined.state.upserts.push_back(upsert);
    if (ready.batch.state.applied_index) combined.state.applied_index = ready.batch.state.applied_index;
    node.advance();
  }
  bool kv_row = false;
  for (const store::StateRow& row : combined.state.upserts) {
    if (row.space == 2 && row.key == "k") {
      kv_row = true;
      CHECK(wire::decode_kv_entry(row.value).value() == wire::KvEntry{"k", "v", 1, 1, 1});
    }
  }
  CHECK(kv_row);
  CHECK(combined.state.applied_index == node.state_machine().applied_index());
}

TEST_CASE("a restarted node recovers its state and keeps answering") {
  store::MemoryStore memory;
  {
    store::Batch identity;
    identity.identity = store::Identity{"solo", kSoloId, 0};
    memory.persist(identity);
  }
  {
    Node node(single_server_options(), memory.load(), 0);
    Harness harness(node, &memory);
    harness.drain(node, 0);
    node.receive_client(1, request(1, wire::KvPutRequest{"k", "v1", "", 0}), 1);
    auto replies = harness.drain(node, 1);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].response.error_code == ErrorCode::ok);
  }
  // Each boot draws a new boot id (its exactly-once client identity).
  NodeOptions second_boot = single_server_options();
  second_boot.boot_id = 78;
  Node restarted(second_boot, memory.load(), 1000);
  REQUIRE(restarted.raft() != nullptr);
  CHECK(restarted.state_machine().get("k")->value == "v1");
  restarted.tick(1000);
  drain(restarted, 1000);
  restarted.receive_client(2, request(5, wire::KvGetRequest{"k"}), 1001);
  auto replies = drain(restarted, 1001);
  REQUIRE(replies.size() == 1);
  CHECK(std::get<wire::KvGetResponse>(replies[0].response.body).value == "v1");
}

TEST_CASE("bad kv requests are refused at once with a clear error") {
  Node node(single_server_options(), new_folder(), 0);
  node.tick(0);
  drain(node, 0);
  node.receive_client(1, request(1, wire::KvGetRequest{""}), 1);
  node.receive_client(1, request(2, wire::KvPutRequest{std::string(wire::kMaxKeyBytes + 1, 'k'), "v", "", 0}), 1);
  node.receive_client(1, request(3, wire::KvPutRequest{"k", std::string(wire::kMaxValueBytes + 1, 'v'), "", 0}), 1);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 3);
  CHECK(replies[0].response.error_code == ErrorCode::invalid_argument);
  CHECK(replies[1].response.error_code == ErrorCode::invalid_argument);
  CHECK(replies[2].response.error_code == ErrorCode::too_large);
  CHECK(replies[2].response.error_message.find("limit") != std::string::npos);
  CHECK(node.counters().client_requests_rejected == 3);
}

TEST_CASE("a server waiting for its peers says what it waits for") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 3;
  Node node(options, new_folder(), 0);
  node.tick(0);
  CHECK(node.raft() == nullptr);
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1", "", 0}), 1);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::no_leader);
  CHECK(replies[0].response.error_message.find("waiting for 3 servers") != std::string::npos);
}

TEST_CASE("members and status are answered locally") {
  Node node(single_server_options(), new_folder(), 0);
  node.tick(0);
  drain(node, 0);
  node.receive_client(3, request(1, wire::MembersRequest{}), 1);
  node.receive_client(3, request(2, wire::StatusRequest{}), 1);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 2);
  const auto& members = std::get<wire::MembersResponse>(replies[0].response.body);
  REQUIRE(members.members.size() == 1);
  CHECK(members.members[0].name == "solo");
  CHECK(members.members[0].state == "alive");
  CHECK(members.members[0].role == "server");
  CHECK(members.members[0].rpc_address == "127.0.0.1:8300");
  const auto& status = std::get<wire::StatusResponse>(replies[1].response.body);
  CHECK(status.raft_role == "leader");
  CHECK(status.leader_name == "solo");
  CHECK(status.voters == std::vector<std::string>{"solo"});
  CHECK(status.server_id == "0000000000000003");
  CHECK_FALSE(status.cluster_id.empty());
}

namespace {

// How a server announces itself in gossip (its metadata), as the node under test sees it.
struct Announced {
  std::string name;
  raft::NodeId server_id;
  uint64_t cluster_id = 0;
  int expect = 3;
  uint64_t promise = 0;
  uint64_t incarnation = 0;
};

gossip::Packet announcements(const std::vector<Announced>& servers) {
  gossip::Packet packet;
  packet.from = servers.front().name;
  for (const Announced& server : servers) {
    wire::NodeMeta meta;
    meta.role = wire::NodeRole::server;
    meta.rpc_address = server.name + ":8300";
    meta.boot_id = 1;
    meta.server_id = server.server_id;
    meta.cluster_id = server.cluster_id;
    meta.bootstrap_expect = static_cast<uint8_t>(server.expect);
    meta.bootstrap_promise = server.promise;
    gossip::MemberUpdate update;
    update.name = server.name;
    update.address = server.name + ":8301";
    update.incarnation = server.incarnation;
    update.state = gossip::MemberState::alive;
    update.metadata = wire::encode_node_meta(meta);
    packet.messages.push_back(update);
  }
  return packet;
}

NodeOptions three_server_options() {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 3;
  // Short enough that the silent peers are not yet suspected by gossip (first probes end
  // after 250 ms at the earliest).
  options.bootstrap_settle_ms = 100;
  return options;
}

const std::vector<store::ServerRecord> kThree = {{1, "b"}, {2, "c"}, {kSoloId, "solo"}};

wire::NodeMeta own_meta(const Node& node) {
  for (const gossip::Member& member : node.gossip().members()) {
    if (member.name == node.options().name) return wire::decode_node_meta(member.metadata).value();
  }
  FAIL("no own member record");
  return {};
}

// Runs ready/advance with nothing to send anywhere, collecting the batches.
std::vector<store::Batch> settle(Node& node) {
  std::vector<store::Batch> batches;
  for (int round = 0; round < 10 && node.has_ready(); ++round) {
    batches.push_back(node.ready().batch);
    node.advance();
  }
  return batches;
}

// Whether the node has anything to persist beyond the members it remembers (which it saves
// as soon as it meets them): drains those batches first.
bool has_ready_beyond_known_members(Node& node) {
  while (node.has_ready()) {
    NodeReady ready = node.ready();
    store::Batch rest = ready.batch;
    rest.known_members.reset();
    if (!rest.empty() || !ready.messages.empty()) {
      node.advance();
      return true;
    }
    node.advance();
  }
  return false;
}

}  // namespace

TEST_CASE("bootstrap: exactly bootstrap_expect servers, stable for the settle time, then a "
          "persisted promise, then a start once all promised") {
  Node node(three_server_options(), new_folder(), 0);
  node.receive_gossip("b:8301", announcements({{"b", 1}, {"c", 2}}), 10);
  node.tick(50);
  CHECK_FALSE(has_ready_beyond_known_members(node));  // not settled yet
  node.tick(120);
  REQUIRE(node.has_ready());
  NodeReady ready = node.ready();
  REQUIRE(ready.batch.promise);
  CHECK(ready.batch.promise->servers == kThree);
  CHECK(own_meta(node).bootstrap_promise == 0);  // announced only once durable
  node.advance();
  const uint64_t digest = server_set_digest(kThree);
  CHECK(own_meta(node).bootstrap_promise == digest);
  CHECK(node.raft() == nullptr);
  node.tick(125);
  CHECK_THAT(node.raft_report(), Catch::Contains("waiting for b to promise"));

  node.receive_gossip("b:8301", announcements({{"b", 1, 0, 3, digest, 1}}), 130);
  CHECK(node.raft() == nullptr);
  node.receive_gossip("c:8301", announcements({{"c", 2, 0, 3, digest, 1}}), 140);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.initial_voters() == kThree);
  CHECK(node.cluster_id() == digest);
  CHECK(own_meta(node).cluster_id == digest);
  const auto batches = settle(node);
  REQUIRE_FALSE(batches.empty());
  REQUIRE(batches.front().identity);
  CHECK(batches.front().identity->cluster_id == digest);
  CHECK(batches.front().voters == kThree);
}

TEST_CASE("bootstrap: a promised server starts when a member already started with the set") {
  store::RecoveredState folder = new_folder();
  folder.promise = store::BootstrapPromise{3, kThree};
  Node node(three_server_options(), folder, 0);
  const uint64_t digest = server_set_digest(kThree);
  node.receive_gossip("b:8301",
                      announcements({{"b", 1, digest, 3, digest}, {"c", 2, 0, 3, digest}}), 1);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.cluster_id() == digest);
}

TEST_CASE("bootstrap: seeing more servers than expected refuses and says why") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 2;
  Node node(options, new_folder(), 0);
  node.receive_gossip("b:8301", announcements({{"b", 1, 0, 2}, {"c", 2, 0, 2}}), 1);
  node.tick(2);
  CHECK(node.raft() == nullptr);
  CHECK_FALSE(has_ready_beyond_known_members(node));
  CHECK(node.counters().bootstrap_refusals == 1);
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1", "", 0}), 3);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::no_leader);
  CHECK_THAT(replies[0].response.error_message,
             Catch::Contains("refusing to bootstrap: 3 servers are alive"));
}

TEST_CASE("bootstrap: refusals for an existing cluster, a different expect, a conflict") {
  SECTION("a server that sees an existing cluster never bootstraps: it joins, voting nowhere") {
    Node node(three_server_options(), new_folder(), 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0xabc}, {"c", 2, 0xabc}}), 1);
    node.tick(5000);
    // It runs that cluster's Raft with no membership at all: it cannot campaign or vote
    // until the leader adds it as a learner and promotes it.
    REQUIRE(node.raft() != nullptr);
    CHECK(node.raft()->membership() == raft::Membership{});
    REQUIRE(node.has_ready());
    NodeReady ready = node.ready();
    REQUIRE(ready.batch.identity);
    CHECK(ready.batch.identity->cluster_id == 0xabc);
    CHECK(ready.batch.voters.empty());
    CHECK_FALSE(ready.batch.promise);
    node.advance();
    for (int64_t now_ms = 5000; now_ms < 20000; now_ms += 10) node.tick(now_ms);
    CHECK(node.raft()->role() == raft::Role::follower);
    CHECK(node.raft()->term() == 0);
  }
  SECTION("a server that promised a set never joins another cluster") {
    NodeOptions options = three_server_options();
    store::RecoveredState folder = new_folder();
    folder.promise = store::BootstrapPromise{3, {{1, "b"}, {2, "c"}, {kSoloId, "solo"}}};
    Node node(options, folder, 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0xabc}, {"c", 2, 0xabc}}), 1);
    node.tick(5000);
    CHECK(node.raft() == nullptr);
    CHECK_THAT(node.raft_report(), Catch::Contains("a cluster already exists (servers b, c)"));
  }
  SECTION("servers started with different -bootstrap-expect") {
    Node node(three_server_options(), new_folder(), 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0, 5}, {"c", 2}}), 1);
    node.tick(5000);
    CHECK_FALSE(has_ready_beyond_known_members(node));
    CHECK_THAT(node.raft_report(),
               Catch::Contains("b was started with -bootstrap-expect 5 and this one with 3"));
  }
  SECTION("a member of the promised set promised another set") {
    store::RecoveredState folder = new_folder();
    folder.promise = store::BootstrapPromise{3, kThree};
    Node node(three_server_options(), folder, 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0, 3, 0x1234}, {"c", 2}}), 1);
    CHECK(node.raft() == nullptr);
    CHECK_THAT(node.raft_report(), Catch::Contains("but b promised a different set"));
    CHECK(node.counters().bootstrap_refusals == 1);
  }
}

TEST_CASE("a server without bootstrap_expect never forms a cluster on its own") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 0;
  Node node(options, new_folder(), 0);
  node.tick(10);
  node.receive_gossip("b:8301", announcements({{"b", 1, 0, 0}, {"c", 2, 0, 0}}), 20);
  CHECK(node.raft() == nullptr);
  node.receive_client(1, request(1, wire::KvGetRequest{"a"}), 30);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_message.find("no Raft configuration") != std::string::npos);

  // With voters recorded in its data folder it starts Raft at once.
  store::RecoveredState recovered = new_folder();
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  Node restarted(options, recovered, 0);
  CHECK(restarted.raft() != nullptr);
}

TEST_CASE("a data folder whose voters do not include this server never runs Raft") {
  store::RecoveredState recovered = new_folder("solo", 99);
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  Node node(single_server_options(), recovered, 0);
  CHECK(node.raft() == nullptr);
  CHECK_THAT(node.damage(), Catch::Contains("not in the voter set"));
}

TEST_CASE("a damaged data folder never runs Raft and says so in status; its clients are "
          "served through the leader") {
  store::RecoveredState recovered = new_folder();
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  recovered.damage = "the database is older than this server once persisted (term 1 < 3)";
  Node node(three_server_options(), recovered, 0);
  node.tick(10);
  CHECK(node.raft() == nullptr);
  CHECK_FALSE(node.has_ready());
  node.receive_client(1, request(1, wire::KvGetRequest{"a"}), 20);
  CHECK(node.requester().outstanding() == 1);  // like a client agent: forwarded to the leader
  node.receive_client(1, request(2, wire::StatusRequest{}), 20);
  auto replies = node.take_client_replies();
  REQUIRE(replies.size() == 1);
  const auto& status = std::get<wire::StatusResponse>(replies[0].response.body);
  CHECK(status.raft_role == "stopped");
  CHECK_THAT(status.raft_report, Catch::Contains("term 1 < 3"));
}

namespace {

// A follower of a three-voter group (b and c silent), in cluster 5.
Node three_voter_follower() {
  store::RecoveredState recovered = new_folder();
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  NodeOptions options = three_server_options();
  options.bootstrap_expect = 0;
  return Node(options, recovered, 0);
}

wire::PeerMessage heartbeat_from_b(uint64_t cluster_id, raft::Index acknowledged) {
  raft::Message raft;
  raft.type = raft::MessageType::append_request;
  raft.from = 1;
  raft.to = kSoloId;
  raft.term = 1;
  raft.acknowledged_index = acknowledged;
  return wire::PeerMessage{"b", cluster_id, raft};
}

}  // namespace

TEST_CASE("raft messages from another cluster are refused and counted") {
  Node node = three_voter_follower();
  node.receive_peer(heartbeat_from_b(6, 0), 1);
  CHECK(node.counters().peer_messages_wrong_cluster == 1);
  CHECK(node.raft()->term() == 0);
  node.receive_peer(heartbeat_from_b(5, 0), 2);
  CHECK(node.counters().peer_messages_wrong_cluster == 1);
  CHECK(node.raft()->term() == 1);
}

TEST_CASE("a follower told it acknowledged entries its log lacks stops its Raft for good") {
  Node node = three_voter_follower();
  node.receive_peer(heartbeat_from_b(5, 7), 1);
  CHECK(node.raft() == nullptr);
  CHECK_THAT(node.damage(), Catch::Contains("acknowledged entries through index 7"));
  CHECK_THAT(node.damage(), Catch::Contains("corrupted, truncated or lost"));
  node.tick(5000);
  CHECK(node.raft() == nullptr);
  CHECK_FALSE(node.has_ready());
}

TEST_CASE("after an event-loop stall a follower reads what is queued before it counts time "
          "towards an election") {
  Node node = three_voter_follower();
  for (int64_t now_ms = 0; now_ms <= 300; now_ms += 10) {
    node.tick(now_ms);
    node.receive_peer(heartbeat_from_b(5, 0), now_ms);  // a live leader, every 10 ms
  }
  REQUIRE(node.raft()->leader() == 1);
  // The process is stopped for 5 s (SIGSTOP, a stalled VM). The timer fires first when it
  // runs again; the leader's heartbeats are still queued on the socket.
  node.tick(5300);
  CHECK(node.raft()->role() == raft::Role::follower);
  CHECK(node.raft()->leader() == 1);
  CHECK(node.counters().raft_stalls == 1);
  // Its leader lease still holds: a pre-vote from c is refused. (Replaying the missed ticks
  // would have expired the lease and granted it, helping depose a live leader.)
  while (node.has_ready()) {
    node.ready();
    node.advance();
  }
  raft::Message pre_vote;
  pre_vote.type = raft::MessageType::pre_vote_request;
  pre_vote.from = 2;
  pre_vote.to = kSoloId;
  pre_vote.term = 2;
  node.receive_peer(wire::PeerMessage{"c", 5, pre_vote}, 5300);
  REQUIRE(node.has_ready());
  NodeReady answer = node.ready();
  node.advance();
  bool refused = false;
  for (const PeerSend& send : answer.messages_before_persist) {
    const auto& message = std::get<raft::Message>(send.message.payload);
    if (message.type == raft::MessageType::pre_vote_response) refused = message.reject;
  }
  CHECK(refused);
  node.receive_peer(heartbeat_from_b(5, 0), 5300);
  CHECK(node.raft()->term() == 1);
  // A leader that is really gone is still replaced: an election timeout later it campaigns.
  for (int64_t now_ms = 5310; now_ms <= 7000; now_ms += 10) node.tick(now_ms);
  CHECK(node.raft()->role() != raft::Role::follower);
  // And a stall never replays the missed ticks: five seconds alone make at most one election.
  node.tick(12000);
  CHECK(node.raft()->term() <= 2);
}

TEST_CASE("a seed server restarted after its cluster grew does not force an election") {
  // Bootstrapped alone ({solo}); its log then added b as a voter (two voters now).
  store::RecoveredState recovered = new_folder();
  recovered.voters = {{kSoloId, "solo"}};
  recovered.identity->cluster_id = 5;
  raft::Entry grown{1, 1, ""};
  grown.type = raft::EntryType::membership;
  grown.membership.voters = {1, kSoloId};
  recovered.entries = {grown};
  recovered.hard_state = raft::HardState{1, kSoloId, 1};
  recovered.applied_index = 0;
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 0;
  Node node(options, recovered, 0);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.raft()->membership().voters.size() == 2);
  // A campaign() at start-up would have moved to term 2 with a forced (lease-ignoring) vote.
  CHECK(node.raft()->term() == 1);
  CHECK(node.raft()->role() == raft::Role::follower);
}

TEST_CASE("members met are remembered in the data folder, and a restart joins them without "
          "-join") {
  NodeOptions options = three_server_options();
  Node node(options, new_folder(), 0);
  node.receive_gossip("b:8301", announcements({{"b", 1}, {"c", 2}}), 10);
  node.tick(20);
  REQUIRE(node.has_ready());
  NodeReady ready = node.ready();
  node.advance();
  REQUIRE(ready.batch.known_members);
  const std::vector<store::KnownMember> expected = {{"b", "b:8301"}, {"c", "c:8301"}};
  CHECK(*ready.batch.known_members == expected);

  // Restarted with no -join: it asks the remembered members, not nobody.
  store::RecoveredState folder = new_folder();
  folder.known_members = expected;
  options.join_addresses.clear();
  Node restarted(options, folder, 100000);
  restarted.tick(100010);
  std::set<std::string> asked;
  for (const gossip::Outgoing& out : restarted.take_gossip_packets()) {
    for (const gossip::Message& message : out.packet.messages) {
      if (std::holds_alternative<gossip::Sync>(message)) asked.insert(out.to_address);
    }
  }
  CHECK(asked == std::set<std::string>{"b:8301", "c:8301"});
}

TEST_CASE("a node on a rolled-back data folder writes nothing more, not even the members it "
          "meets") {
  store::RecoveredState folder = new_folder();
  folder.damage = "the database holds 1 persisted batches but this server once persisted 2";
  Node node(three_server_options(), folder, 0);
  node.receive_gossip("b:8301", announcements({{"b", 1}, {"c", 2}}), 10);
  node.tick(20);
  node.tick(10000);
  CHECK(node.raft() == nullptr);
  CHECK_FALSE(node.has_ready());
}

TEST_CASE("gossip's TCP fallback probe is answered over the agent connection, to our own name "
          "only") {
  Node node(three_server_options(), new_folder(), 0);
  node.receive_gossip("b:8301", announcements({{"b", 1}}), 10);
  node.take_peer_sends();
  node.receive_peer(wire::PeerMessage{"b", 0, wire::GossipProbe{77, "solo"}}, 20);
  auto sends = node.take_peer_sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].to_name == "b");
  CHECK(sends[0].rpc_address == "b:8300");
  CHECK(std::get<wire::GossipProbeAck>(sends[0].message.payload).sequence == 77);
  // A probe meant for another name is not answered (its sender would think that one alive).
  node.receive_peer(wire::PeerMessage{"b", 0, wire::GossipProbe{78, "someone-else"}}, 30);
  CHECK(node.take_peer_sends().empty());
}
