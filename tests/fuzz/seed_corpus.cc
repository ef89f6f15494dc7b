// Writes the seed corpus of every fuzz target: valid encodings of every wire format, logs of
// commands, config files and genuinely sealed messages, so that the fuzzers start from real
// inputs instead of discovering the formats from nothing. Deterministic (the same files on
// every run); the output is kept in the repository (tests/fuzz/corpus/), and
// `scripts/fuzz.sh --write-seeds` rewrites it.
// Usage: seed_corpus <corpus root>   (writes <root>/<target>/seed_<n>)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/prng.h"
#include "tests/fuzz/records.h"
#include "tests/fuzz/sealed_messages.h"
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

// A log for state_machine_fuzz: every kind of command, naming sessions and locks that exist
// (a session's id is the index of the entry that created it), with retries, acknowledgements,
// no-ops, garbage, and a leader clock that mostly moves on and sometimes lags.
class LogWriter {
 public:
  explicit LogWriter(uint64_t seed) : prng_(seed) {}

  // Records (tests/fuzz/records.h) of entry data, up to max_bytes in all.
  std::string write(size_t max_bytes) {
    std::string log;
    while (true) {
      const std::string data = next();
      if (log.size() + 2 + data.size() > max_bytes) return log;
      fuzz::append_record(log, data);
      ++index_;
    }
  }

 private:
  std::string next() {
    const uint64_t roll = prng_.below(1000);
    if (roll < 5) {
      stamp_ -= 3'000;
    } else if (roll < 20) {
      stamp_ += 70'000;  // past TTLs and lock-delays
    } else {
      stamp_ += static_cast<int64_t>(prng_.below(1'500));
    }
    const uint64_t kind = prng_.below(100);
    if (kind < 2) return "";                                     // a leader's no-op
    if (kind < 4) return std::string("\x07garbage\x00\x01", 10);  // undecodable
    if (kind < 12 && !sent_.empty()) return sent_[prng_.below(sent_.size())];  // a retry
    if (kind < 16) return leader(TickCommand{});
    if (kind < 19) {
      return leader(InvalidateNodeCommand{node(), prng_.below(3),
                                          static_cast<SessionEndReason>(prng_.below(6))});
    }
    return request(client_op());
  }

  std::string node() { return "n" + std::to_string(1 + prng_.below(3)); }
  std::string key() { return "k" + std::to_string(prng_.below(6)); }
  std::string lock() {
    static const char* const kNames[] = {"a", "b", "sem"};
    return kNames[prng_.below(3)];
  }
  uint64_t session() {
    if (!sessions_.empty() && prng_.chance(0.9)) return sessions_[prng_.below(sessions_.size())];
    return prng_.below(index_ + 2);
  }
  uint64_t token() { return prng_.below(8); }

  CommandOp client_op() {
    switch (prng_.below(13)) {
      case 0: return PutCommand{key(), std::to_string(prng_.below(1000)), "", 0, false, 0};
      case 1: return PutCommand{key(), "fenced", lock(), token(), false, 0};
      case 2: return PutCommand{key(), "cas", "", 0, true, prng_.below(5)};
      case 3: return DeleteCommand{prng_.chance(0.5) ? key() : "k", prng_.chance(0.5)};
      case 4: {
        KvTxnRequest txn;
        txn.compares.push_back(TxnCompare{key(), static_cast<TxnTarget>(prng_.below(4)),
                                          static_cast<TxnCompareOp>(prng_.below(4)), "1",
                                          prng_.below(4)});
        txn.success.push_back(TxnOp{TxnOpType::put, key(), "t", false});
        txn.success.push_back(TxnOp{TxnOpType::get, key(), "", false});
        txn.failure.push_back(TxnOp{TxnOpType::del, "k", "", prng_.chance(0.5)});
        return TxnCommand{txn};
      }
      case 5: return GetCommand{key()};
      case 6:
      case 7: {
        static const uint64_t kTtls[] = {0, 0, 1'500, 20'000, 999};
        sessions_.push_back(index_ + 1);
        return SessionCreateCommand{node(), 1 + prng_.below(2), kTtls[prng_.below(5)], "d"};
      }
      case 8: return SessionDestroyCommand{session()};
      case 9: return SessionRenewCommand{session()};
      case 10: {
        const std::string name = lock();
        static const uint32_t kDelays[] = {0, 500, 2'000, 70'000};
        return LockAcquireCommand{name, session(), name == "sem" ? 2u : 1u, prng_.chance(0.6),
                                  kDelays[prng_.below(4)]};
      }
      case 11: return LockReleaseCommand{lock(), session()};
      default: return LockCancelCommand{lock(), session()};
    }
  }

  std::string leader(CommandOp op) { return encode_command(Command{stamp_, 0, 0, 0, op}); }

  std::string request(CommandOp op) {
    const uint64_t client = 101 + prng_.below(2);
    const uint64_t sequence = ++sequence_[client];
    if (prng_.chance(0.3)) {
      ack_below_[client] = sequence - prng_.below(std::min<uint64_t>(sequence, 4));
    }
    sent_.push_back(encode_command(Command{stamp_, client, sequence, ack_below_[client], op}));
    return sent_.back();
  }

  Prng prng_;
  raft::Index index_ = 0;  // of the last entry written
  int64_t stamp_ = 10'000;
  std::vector<uint64_t> sessions_;
  std::map<uint64_t, uint64_t> sequence_;
  std::map<uint64_t, uint64_t> ack_below_;
  std::vector<std::string> sent_;
};

// A record for sealed_datagram_fuzz (see there): what the message is, and how many seconds
// the receiver's clock moves on first.
enum class Sealed : uint8_t { datagram = 0, hello = 1, frame = 2, by_magic = 3 };
void sealed_record(std::string& input, Sealed kind, const std::string& message,
                   uint8_t advance_seconds = 0) {
  const auto tag = static_cast<char>(advance_seconds << 2 | static_cast<uint8_t>(kind));
  fuzz::append_record(input, std::string(1, tag) + message);
}

void write_sealed_seeds(const std::filesystem::path& dir) {
  using crypto::fuzz::SealedDatagram;
  using crypto::fuzz::SealedStream;
  const crypto::fuzz::SealedMessages sealed = crypto::fuzz::make_sealed_messages();
  int index = 0;
  // Each datagram alone, then all of them twice over (replays; more than the window remembers).
  for (const SealedDatagram& datagram : sealed.datagrams) {
    std::string input;
    sealed_record(input, Sealed::datagram, datagram.bytes);
    write(dir, index++, input);
  }
  std::string all;
  for (int pass = 0; pass < 2; ++pass) {
    for (const SealedDatagram& datagram : sealed.datagrams) {
      sealed_record(all, Sealed::datagram, datagram.bytes);
    }
  }
  write(dir, index++, all);
  // The same, with the clock moving a minute before each (nonces expire, early ones open).
  std::string moving;
  for (const SealedDatagram& datagram : sealed.datagrams) {
    sealed_record(moving, Sealed::by_magic, datagram.bytes, 63);
    sealed_record(moving, Sealed::datagram, datagram.bytes);
  }
  write(dir, index++, moving);
  // Each stream in order; then its hello again (a replay, found by its magic) and its frames
  // backwards.
  for (const SealedStream& stream : sealed.streams) {
    std::string input;
    sealed_record(input, Sealed::hello, stream.hello);
    for (const std::string& frame : stream.frames) sealed_record(input, Sealed::frame, frame);
    write(dir, index++, input);
    sealed_record(input, Sealed::by_magic, stream.hello);
    for (auto it = stream.frames.rbegin(); it != stream.frames.rend(); ++it) {
      sealed_record(input, Sealed::frame, *it);
    }
    write(dir, index++, input);
  }
  // Two connections one after the other with datagrams between, and the strangers' messages.
  std::string mixed;
  sealed_record(mixed, Sealed::hello, sealed.streams[0].hello);
  sealed_record(mixed, Sealed::frame, sealed.streams[0].frames[0]);
  sealed_record(mixed, Sealed::datagram, sealed.datagrams[1].bytes, 1);
  sealed_record(mixed, Sealed::hello, sealed.streams[1].hello, 1);
  sealed_record(mixed, Sealed::frame, sealed.streams[1].frames[0]);
  sealed_record(mixed, Sealed::frame, sealed.streams[0].frames[1]);
  for (const std::string& stranger : sealed.strangers) {
    sealed_record(mixed, Sealed::by_magic, stranger);
  }
  write(dir, index++, mixed);
  for (const std::string& stranger : sealed.strangers) {
    std::string input;
    sealed_record(input, Sealed::by_magic, stranger);
    write(dir, index++, input);
  }
  // Plaintext: a gossip packet (no magic); and a sealed datagram as the whole input.
  gossip::Packet packet;
  packet.from = "n1";
  std::string plain;
  sealed_record(plain, Sealed::by_magic, encode_gossip_packet(packet));
  write(dir, index++, plain);
  write(dir, index++, sealed.datagrams[1].bytes);
}

void write_config_seeds(const std::filesystem::path& dir) {
  static const char* const kConfigs[] = {
      // Every key, as documented.
      R"(dev = false
server = true
node_name = "n1"
bootstrap_expect = 3
data_dir = "/var/lib/conclave"
bind_addr = "10.0.0.1"
socket_path = "/run/conclave.sock"
join = ["10.0.0.2:7946", "10.0.0.3:7946"]
log_level = "info"
profile = "wan"
autopilot_dead_server = "10s"
autopilot_min_voters = 3
lease_reads = true
reap_after = "24h"
encrypt = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
encrypt_verify_incoming = true
encrypt_verify_outgoing = false
socket_mode = "0660"
socket_group = "conclave"
acl_default = "deny"
[ports]
gossip = 7946
server = 7947
[tags]
role = "web"
zone = "a"
)",
      // Access rules.
      R"([[acl]]
user = "alice"
kv_prefix = "app/"
allow = ["read", "write"]
[[acl]]
gid = 1000
lock_prefix = ""
allow = ["lock"]
[[acl]]
uid = 0
allow = ["admin"]
[[acl]]
group = "ops"
kv_prefix = ""
lock_prefix = "jobs/"
allow = ["read", "write", "lock", "admin"]
)",
      // Inline tables, dotted and quoted keys, comments, every form of string.
      R"(# a comment
ports = { gossip = 1, server = 65535 }
tags."zone.name" = 'literal'
node_name = """multi
line"""
data_dir = '''raw\path'''
bind_addr = "\u0041\t\"\U0001F600"  # trailing comment
)",
      "dev = true\n",
      "",
      // Errors the parser must name: ranges, wrong types, unknown keys, bad rules, syntax.
      "ports.gossip = 70000\n",
      "bootstrap_expect = 0\nserver = 1\n",
      "unknown = 1\n[ports]\nhttp = 80\n",
      "join = [1, 2]\ntags = { \"bad key!\" = \"x\" }\n",
      "[[acl]]\nuser = \"a\"\nuid = 1\nallow = []\n",
      "[[acl]]\nuid = -1\nkv_prefix = \"\"\nallow = [\"fly\"]\n",
      "profile = \"moon\"\n",
      "[ports\ngossip = \n",
      // Other TOML types: floats, dates, nested arrays, arrays of tables inside tables.
      R"(server = 1.5e3
dev = 1979-05-27T07:32:00Z
join = [["a"], []]
[tags]
x = inf
[[tags.y]]
z = 0x1f
)",
      R"(acl = [{ user = "u", kv_prefix = "", allow = ["read"] }]
autopilot_min_voters = 7
acl_default = "allow"
)",
  };
  int index = 0;
  for (const char* config : kConfigs) write(dir, index++, config);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  crypto::fuzz::use_deterministic_randomness();
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
        request.body = KvPutRequest{test::random_string(prng, 20), test::random_string(prng, 40),
                                    "", 0, false, 0};
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
        response.body = MembersResponse{{MemberInfo{"a", "b", "alive", "server", "c", 3, {}},
                                         MemberInfo{"d", "e", "dead", "client", "", 0, {}}}};
        break;
      case 3:
        response.body = StatusResponse{"n", true, "leader", 3, "n", 4, 4, 5, {"n", "m"},
                                       {Counter{"c", 1}}, {}, "", "", ""};
        break;
      default: response.error_message = "failed"; break;
    }
    write(root / "client_response_fuzz", i, encode_client_response(response));

    write(root / "frame_reader_fuzz", i,
          std::string(1, static_cast<char>(prng.below(256))) +
              std::string(1, static_cast<char>(prng.below(256))) + frame("abc") +
              frame(test::random_string(prng, 100) + "x"));

    write(root / "state_machine_fuzz", i, LogWriter(100 + i).write(i < 5 ? 600 : 6'000));
  }
  write_config_seeds(root / "config_fuzz");
  write_sealed_seeds(root / "sealed_datagram_fuzz");
  return 0;
}
