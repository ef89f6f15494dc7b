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
