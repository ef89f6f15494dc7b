// Writes valid encodings of every wire format into seed corpus directories, so that the
// fuzzers start from real messages instead of discovering the FlatBuffers layout from nothing.
// Usage: seed_corpus <corpus root>   (writes <root>/<target>/seed_<n>)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/prng.h"
#include "tests/wire/wire_test_support.h"
#include "wire/codec.h"
#include "wire/framing.h"

namespace {

using namespace conclave;
using namespace conclave::wire;

void write(const std::filesystem::path& dir, int index, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / ("seed_" + std::to_string(index)), std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  Prng prng(2024);
  for (int i = 0; i < 20; ++i) {
    gossip::Packet packet;
    packet.from = test::random_string(prng, 16);
    for (uint64_t n = prng.below(4); n > 0; --n) {
      packet.messages.push_back(test::random_gossip_message(prng));
    }
    const std::string encoded = encode_gossip_packet(packet);
    if (encoded.size() <= kMaxGossipPacketBytes) write(root / "gossip_packet_fuzz", i, encoded);

    PeerMessage peer{test::random_string(prng, 16), prng.next(),
                     test::random_raft_message(prng, 3, 40)};
    write(root / "peer_message_fuzz", i, encode_peer_message(peer));

    Command command{static_cast<int64_t>(prng.below(1u << 30)), prng.next(), prng.next(),
                    prng.below(100),
                    PutCommand{test::random_string(prng, 20), test::random_string(prng, 40),
                               i % 3 == 0 ? "lock" : "", prng.next()}};
    if (i % 2 == 1) command.op = GetCommand{test::random_string(prng, 20)};
    write(root / "command_fuzz", i, encode_command(command));

    ClientRequest request{prng.next(), static_cast<uint32_t>(prng.below(5000)), {}};
    switch (i % 4) {
      case 0: request.body = KvGetRequest{test::random_string(prng, 20)}; break;
      case 1:
        request.body = KvPutRequest{test::random_string(prng, 20), test::random_string(prng, 40)};
        break;
      case 2: request.body = MembersRequest{}; break;
      default: request.body = StatusRequest{}; break;
    }
    write(root / "client_request_fuzz", i, encode_client_request(request));

    ClientResponse response{prng.next(), static_cast<ErrorCode>(i % 10), "", i % 3 == 0, {}};
    switch (i % 5) {
      case 0: response.body = KvGetResponse{true, test::random_string(prng, 40), 1, 2}; break;
      case 1: response.body = KvPutResponse{prng.next()}; break;
      case 2:
        response.body = MembersResponse{{MemberInfo{"a", "b", "alive", "server", "c", 3},
                                         MemberInfo{"d", "e", "dead", "client", "", 0}}};
        break;
      case 3:
        response.body = StatusResponse{"n", true, "leader", 3, "n", 4, 4, 5, {"n", "m"},
                                       {Counter{"c", 1}}};
        break;
      default: response.error_message = "failed"; break;
    }
    write(root / "client_response_fuzz", i, encode_client_response(response));

    write(root / "frame_reader_fuzz", i,
          std::string(1, static_cast<char>(prng.below(256))) +
              std::string(1, static_cast<char>(prng.below(256))) + frame("abc") +
              frame(test::random_string(prng, 100) + "x"));
  }
  return 0;
}
