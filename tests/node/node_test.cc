#include <catch2/catch.hpp>

#include "agent/node.h"
#include "wire/codec.h"

#include "agent/bootstrap.h"

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

// Plays the runtime's part for a node that talks to nobody: persist (nothing to do here),
// collect replies, advance; repeated until the node is idle.
std::vector<ClientReply> drain(Node& node, int64_t now_ms) {
  std::vector<ClientReply> replies = node.take_immediate_replies();
  for (int round = 0; round < 100 && node.has_ready(); ++round) {
    NodeReady ready = node.ready();
    for (auto& reply : ready.replies) replies.push_back(std::move(reply));
    node.advance();
    for (auto& reply : node.take_immediate_replies()) replies.push_back(std::move(reply));
    node.tick(now_ms);
  }
  return replies;
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

  node.receive_client(7, request(1, wire::KvPutRequest{"a", "1"}), 10);
  node.receive_client(7, request(2, wire::KvPutRequest{"a", "2"}), 10);
  node.receive_client(7, request(3, wire::KvGetRequest{"a"}), 10);
  node.receive_client(7, request(4, wire::KvGetRequest{"missing"}), 10);
  auto replies = drain(node, 10);
  REQUIRE(replies.size() == 4);
  for (const auto& reply : replies) CHECK(reply.connection_id == 7);
  CHECK(std::get<wire::KvPutResponse>(replies[0].response.body).revision == 1);
  CHECK(std::get<wire::KvPutResponse>(replies[1].response.body).revision == 2);
  const auto& got = std::get<wire::KvGetResponse>(replies[2].response.body);
  CHECK(got.found);
  CHECK(got.value == "2");
  CHECK(got.create_revision == 1);
  CHECK(got.mod_revision == 2);
  CHECK_FALSE(std::get<wire::KvGetResponse>(replies[3].response.body).found);
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
  node.receive_client(1, request(1, wire::KvPutRequest{"k", "v"}), 5);
  store::Batch combined;
  for (int round = 0; round < 10 && node.has_ready(); ++round) {
    NodeReady ready = node.ready();
    for (auto& upsert : ready.batch.state.upserts) combined.state.upserts.push_back(upsert);
    if (ready.batch.state.applied_index) combined.state.applied_index = ready.batch.state.applied_index;
    node.advance();
  }
  REQUIRE(combined.state.upserts.size() == 1);
  CHECK(combined.state.upserts[0] == store::KvRecord{"k", "v", 1, 1});
  CHECK(combined.state.applied_index == node.state_machine().applied_index());
}

TEST_CASE("a restarted node recovers its state and keeps answering") {
  store::RecoveredState disk = new_folder();
  {
    Node node(single_server_options(), disk, 0);
    for (int round = 0; round < 40; ++round) {
      node.tick(round);
      if (round == 20) node.receive_client(1, request(1, wire::KvPutRequest{"k", "v1"}), 1);
      if (!node.has_ready()) continue;
      NodeReady ready = node.ready();
      // A tiny in-test disk: the batch semantics of store::Store.
      if (ready.batch.hard_state) disk.hard_state = *ready.batch.hard_state;
      if (!ready.batch.entries.empty()) {
        disk.entries.resize(ready.batch.entries.front().index - 1);
        for (auto& entry : ready.batch.entries) disk.entries.push_back(entry);
      }
      if (!ready.batch.voters.empty()) disk.voters = ready.batch.voters;
      if (ready.batch.identity) disk.identity = ready.batch.identity;
      if (ready.batch.promise) disk.promise = ready.batch.promise;
      if (ready.batch.state.applied_index) {
        for (auto& row : ready.batch.state.upserts) disk.kv = {row};
        disk.applied_index = ready.batch.state.applied_index;
        disk.revision = ready.batch.state.revision;
      }
      node.advance();
    }
  }
  // Each boot draws a new request id base (NodeOptions::request_id_base).
  NodeOptions second_boot = single_server_options();
  second_boot.request_id_base = 1'000'000;
  Node restarted(second_boot, disk, 1000);
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
  node.receive_client(1, request(2, wire::KvPutRequest{std::string(wire::kMaxKeyBytes + 1, 'k'), "v"}), 1);
  node.receive_client(1, request(3, wire::KvPutRequest{"k", std::string(wire::kMaxValueBytes + 1, 'v')}), 1);
  auto replies = node.take_immediate_replies();
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
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1"}), 1);
  auto replies = node.take_immediate_replies();
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
  auto replies = node.take_immediate_replies();
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

TEST_CASE("state machine: revisions, limits and hashes") {
  StateMachine machine(store::RecoveredState{});
  auto entry = [](raft::Index index, wire::Command command) {
    return raft::Entry{1, index, wire::encode_command(command)};
  };
  Applied put = machine.apply(entry(1, wire::Command{1, 1, 0, wire::PutCommand{"a", "x"}}));
  CHECK(std::get<wire::KvPutResponse>(put.result).revision == 1);
  Applied noop = machine.apply(raft::Entry{1, 2, ""});
  CHECK_FALSE(noop.command.has_value());
  Applied garbage = machine.apply(raft::Entry{1, 3, "not a command"});
  CHECK(garbage.error_code == ErrorCode::malformed);
  CHECK(machine.undecodable_entries() == 1);
  CHECK(machine.applied_index() == 3);

  StateMachine other(store::RecoveredState{});
  other.apply(entry(1, wire::Command{2, 9, 5, wire::PutCommand{"a", "x"}}));
  other.apply(raft::Entry{1, 2, ""});
  other.apply(raft::Entry{1, 3, "also not a command"});
  CHECK(other.state_hash() == machine.state_hash());
  other.apply(entry(4, wire::Command{2, 10, 5, wire::PutCommand{"a", "y"}}));
  CHECK(other.state_hash() != machine.state_hash());
}

TEST_CASE("a command that reaches the log twice takes effect once, also after a restart") {
  auto entry = [](raft::Index index, wire::Command command) {
    return raft::Entry{1, index, wire::encode_command(command)};
  };
  const wire::Command put{7, 42, 0, wire::PutCommand{"a", "x"}};
  StateMachine machine(store::RecoveredState{});
  Applied first = machine.apply(entry(1, put));
  Applied second = machine.apply(entry(2, put));
  CHECK_FALSE(first.duplicate);
  CHECK(second.duplicate);
  CHECK(machine.revision() == 1);
  CHECK(machine.duplicate_entries() == 1);

  // A restarted machine rebuilds the window from the log it recovered.
  store::RecoveredState recovered;
  recovered.entries = {entry(1, put)};
  recovered.applied_index = 1;
  recovered.revision = 1;
  recovered.kv = {store::KvRecord{"a", "x", 1, 1}};
  StateMachine restarted(recovered);
  CHECK(restarted.apply(entry(2, put)).duplicate);
  CHECK(restarted.revision() == 1);
  CHECK(restarted.state_hash() == machine.state_hash());

  // Outside the window the same id is a new command again (ids are unique per boot anyway).
  StateMachine window(store::RecoveredState{});
  window.apply(entry(1, put));
  for (raft::Index index = 2; index <= kDuplicateWindowEntries + 1; ++index) {
    window.apply(raft::Entry{1, index, ""});
  }
  CHECK_FALSE(window.apply(entry(kDuplicateWindowEntries + 2, put)).duplicate);
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

}  // namespace

TEST_CASE("bootstrap: exactly bootstrap_expect servers, stable for the settle time, then a "
          "persisted promise, then a start once all promised") {
  Node node(three_server_options(), new_folder(), 0);
  node.receive_gossip("b:8301", announcements({{"b", 1}, {"c", 2}}), 10);
  node.tick(50);
  CHECK_FALSE(node.has_ready());  // not settled yet
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
  CHECK(node.voters() == kThree);
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
  CHECK_FALSE(node.has_ready());
  CHECK(node.counters().bootstrap_refusals == 1);
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1"}), 3);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::no_leader);
  CHECK_THAT(replies[0].response.error_message,
             Catch::Contains("refusing to bootstrap: 3 servers are alive"));
}

TEST_CASE("bootstrap: refusals for an existing cluster, a different expect, a conflict") {
  SECTION("a server that sees an existing cluster never bootstraps") {
    Node node(three_server_options(), new_folder(), 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0xabc}, {"c", 2, 0xabc}}), 1);
    node.tick(5000);
    CHECK(node.raft() == nullptr);
    CHECK_FALSE(node.has_ready());
    CHECK_THAT(node.raft_report(), Catch::Contains("a cluster already exists (servers b, c)"));
  }
  SECTION("servers started with different -bootstrap-expect") {
    Node node(three_server_options(), new_folder(), 0);
    node.receive_gossip("b:8301", announcements({{"b", 1, 0, 5}, {"c", 2}}), 1);
    node.tick(5000);
    CHECK_FALSE(node.has_ready());
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
  auto replies = node.take_immediate_replies();
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

TEST_CASE("a damaged data folder never runs Raft, and says so to clients and in status") {
  store::RecoveredState recovered = new_folder();
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  recovered.damage = "the database is older than this server once persisted (term 1 < 3)";
  Node node(three_server_options(), recovered, 0);
  node.tick(10);
  CHECK(node.raft() == nullptr);
  CHECK_FALSE(node.has_ready());
  node.receive_client(1, request(1, wire::KvGetRequest{"a"}), 20);
  node.receive_client(1, request(2, wire::StatusRequest{}), 20);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].response.error_code == ErrorCode::storage);
  CHECK_THAT(replies[0].response.error_message, Catch::Contains("term 1 < 3"));
  const auto& status = std::get<wire::StatusResponse>(replies[1].response.body);
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
  wire::PeerMessage message;
  message.from_name = "b";
  message.cluster_id = cluster_id;
  message.raft.type = raft::MessageType::append_request;
  message.raft.from = 1;
  message.raft.to = kSoloId;
  message.raft.term = 1;
  message.raft.acknowledged_index = acknowledged;
  return message;
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

TEST_CASE("after a long pause a node catches up at most one election timeout of ticks") {
  // Three voters, the others silent: this node can only campaign, once per election timeout.
  store::RecoveredState recovered = new_folder();
  recovered.voters = kThree;
  recovered.identity->cluster_id = 5;
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 0;
  Node node(options, recovered, 0);
  node.tick(0);
  // Five seconds pass at once (SIGSTOP): replaying all 500 ticks would campaign ~8 times.
  node.tick(5000);
  CHECK(node.raft()->term() <= 1);
}
