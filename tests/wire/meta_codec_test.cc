// Node metadata codec (what an agent says about itself in gossip): round trips, limits, hostile
// input.
#include <catch2/catch.hpp>

#include "tests/wire/wire_test_support.h"
#include "wire/codec.h"
#include "wire/meta_generated.h"

namespace conclave::wire {
namespace {

namespace fbm = fb::meta;

NodeMeta full_meta() {
  NodeMeta meta;
  meta.role = NodeRole::server;
  meta.rpc_address = "127.0.0.12:8300";
  meta.boot_id = 0x0123456789abcdefULL;
  meta.server_id = UINT64_MAX;
  meta.cluster_id = 42;
  meta.bootstrap_expect = 5;
  meta.bootstrap_promise = 0xdeadbeefULL;
  meta.tags = {{"role", "web"}, {"zone", "eu-1a"}, {"empty", ""}};
  return meta;
}

TEST_CASE("meta: every field round-trips and fits the gossip metadata limit") {
  const std::string bytes = encode_node_meta(full_meta());
  CHECK(bytes.size() <= gossip::kMaxMetadataBytes);
  const auto decoded = decode_node_meta(bytes);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == full_meta());
  const auto defaults = decode_node_meta(encode_node_meta(NodeMeta{}));
  REQUIRE(defaults.ok());
  CHECK(defaults.value() == NodeMeta{});
}

TEST_CASE("meta: an unknown role, a wrong version and garbage are malformed") {
  {
    flatbuffers::FlatBufferBuilder builder;
    builder.Finish(fbm::CreateNodeMeta(builder, kProtocolVersion, static_cast<fbm::Role>(7)));
    const auto decoded = decode_node_meta(std::string_view(
        reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
    REQUIRE_FALSE(decoded.ok());
    CHECK_THAT(decoded.error().message, Catch::Contains("node metadata: role has unknown value 7"));
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    builder.Finish(fbm::CreateNodeMeta(builder, 99));
    const auto decoded = decode_node_meta(std::string_view(
        reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
    REQUIRE_FALSE(decoded.ok());
    CHECK_THAT(decoded.error().message, Catch::Contains("protocol version 99"));
  }
  CHECK_FALSE(decode_node_meta("").ok());
  CHECK(decode_node_meta(std::string(gossip::kMaxMetadataBytes + 1, 'x')).error().code ==
        ErrorCode::too_large);
  Prng prng(7);
  const std::string valid = encode_node_meta(full_meta());
  for (int i = 0; i < 20000; ++i) {
    const auto decoded = decode_node_meta(test::mutate(prng, valid));
    if (!decoded.ok()) continue;
    const auto again = decode_node_meta(encode_node_meta(decoded.value()));
    REQUIRE(again.ok());
    REQUIRE(again.value() == decoded.value());
  }
}

}  // namespace
}  // namespace conclave::wire

namespace conclave::wire {
namespace {

TEST_CASE("state records round-trip, and garbage is refused") {
  const StateMeta meta{100, 42, -5, 99};
  CHECK(decode_state_meta(encode_state_meta(meta)).value() == meta);
  const KvEntry entry{"k\0ey", "v\xff", 3, 9, 4};
  CHECK(decode_kv_entry(encode_kv_entry(entry)).value() == entry);
  SessionRecord session;
  session.id = 17;
  session.node = "node-d";
  session.boot_id = UINT64_MAX;
  session.ttl_ms = 30000;
  session.created_ms = 5;
  session.renewed_ms = 6;
  session.description = "cron";
  session.held = {"a", "b"};
  session.waiting = {"c"};
  CHECK(decode_session_record(encode_session_record(session)).value() == session);
  LockRecord lock;
  lock.name = "db/primary";
  lock.limit = 2;
  lock.holders = {LockHolder{17, 99, 5, 1000}};
  lock.waiters = {LockWaiter{18, 6, 0, 7, 8}};
  lock.blocked_until = {1234};
  CHECK(decode_lock_record(encode_lock_record(lock)).value() == lock);
  DedupClient client;
  client.client_id = 77;
  client.last_active_ms = 5;
  client.floor = 3;
  client.answers[3] = CachedAnswer{ErrorCode::conflict, "held", "body", false};
  client.answers[4] = CachedAnswer{ErrorCode::ok, "", "", true};
  CHECK(decode_dedup_client(encode_dedup_client(client)).value() == client);
  CHECK_FALSE(decode_lock_record("garbage bytes").ok());
  CHECK_FALSE(decode_session_record("").ok());
  Prng prng(3);
  const std::string valid = encode_lock_record(lock);
  for (int i = 0; i < 5000; ++i) {
    const auto decoded = decode_lock_record(test::mutate(prng, valid));
    if (decoded.ok()) CHECK(decode_lock_record(encode_lock_record(decoded.value())).ok());
  }
}

}  // namespace
}  // namespace conclave::wire
