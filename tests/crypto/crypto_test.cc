// crypto/ on its own: keys and the keyring's rules, sealed datagrams and streams that open only
// under an installed key and refuse tampering, and the replay window.
#include <catch2/catch.hpp>

#include "crypto/datagram_seal.h"
#include "crypto/keyring.h"
#include "crypto/replay_window.h"
#include "crypto/stream_seal.h"

using namespace conclave;
using namespace conclave::crypto;

TEST_CASE("crypto: a key round-trips through base64; anything else is refused with a hint") {
  const Key key = generate_key();
  const std::string text = encode_key(key);
  CHECK(text.size() == 44);
  auto parsed = parse_key(text);
  REQUIRE(parsed.ok());
  CHECK(parsed.value() == key);
  for (const char* bad : {"", "short", "not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",     // 31 bytes
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {  // 33 bytes
    auto refused = parse_key(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("conclave keygen") != std::string::npos);
  }
  CHECK(generate_key().id != key.id);
}

TEST_CASE("crypto: the keyring keeps one primary; the primary cannot be removed") {
  Keyring ring;
  const Key first = generate_key();
  const Key second = generate_key();
  REQUIRE(ring.install(first).ok());
  REQUIRE(ring.install(second).ok());
  REQUIRE(ring.install(second).ok());  // again: no change
  CHECK(ring.keys().size() == 2);
  CHECK(ring.primary() == first);
  CHECK_FALSE(ring.remove(first).ok());
  REQUIRE(ring.use(second).ok());
  CHECK(ring.primary() == second);
  REQUIRE(ring.remove(first).ok());
  CHECK(ring.find(first.id) == nullptr);
  CHECK(ring.find(second.id) != nullptr);
  CHECK_FALSE(ring.use(first).ok());  // not installed any more
  for (size_t i = 1; i < kMaxKeys; ++i) REQUIRE(ring.install(generate_key()).ok());
  CHECK(ring.install(generate_key()).error().code == ErrorCode::too_large);
}

TEST_CASE("crypto: a sealed datagram opens under any installed key and nowhere else") {
  Keyring ring;
  const Key old_key = generate_key();
  const Key new_key = generate_key();
  REQUIRE(ring.install(old_key).ok());
  REQUIRE(ring.install(new_key).ok());
  const std::string sealed = seal_datagram(new_key, "ping", 1234);
  CHECK(sealed.size() == 4 + kDatagramOverheadBytes);
  CHECK(sealed.find("ping") == std::string::npos);  // encrypted, not just signed
  OpenedDatagram opened = open_datagram(ring, sealed);
  REQUIRE_FALSE(opened.failure);
  CHECK(opened.payload == "ping");
  CHECK(opened.sent_at_ms == 1234);
  CHECK_FALSE(open_datagram(ring, seal_datagram(old_key, "", 1)).failure);

  Keyring other;
  REQUIRE(other.install(generate_key()).ok());
  CHECK(open_datagram(other, sealed).failure == OpenFailure::unknown_key);
  // Every single flipped bit after the magic is caught (the key id: unknown key; else forged).
  for (size_t i = 4; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    INFO("byte " << i);
    auto failure = open_datagram(ring, tampered).failure;
    REQUIRE(failure);
    CHECK((*failure == OpenFailure::forged || *failure == OpenFailure::unknown_key));
  }
  CHECK(open_datagram(ring, "plain flatbuffer bytes").failure == OpenFailure::not_sealed);
  CHECK(open_datagram(ring, sealed.substr(0, 20)).failure == OpenFailure::malformed);
  // A forger who knows the key id but not the key: a random body fails authentication.
  std::string forged = sealed.substr(0, 8) + std::string(sealed.size() - 8, 'x');
  CHECK(open_datagram(ring, forged).failure == OpenFailure::forged);
}

TEST_CASE("crypto: the replay window accepts a nonce once, and only near now") {
  ReplayWindow window(60'000, 1000);
  Nonce a{};
  a[0] = 1;
  Nonce b{};
  b[0] = 2;
  CHECK(window.check(a, 100'000, 100'000) == ReplayWindow::Verdict::fresh);
  CHECK(window.check(a, 100'000, 100'500) == ReplayWindow::Verdict::replayed);
  CHECK(window.check(b, 100'000 - 60'001, 100'000) == ReplayWindow::Verdict::too_old);
  CHECK(window.check(b, 100'000 + 60'001, 100'000) == ReplayWindow::Verdict::too_new);
  // Later, the old nonce is forgotten, and refused by its time instead.
  CHECK(window.check(a, 100'000, 200'000) == ReplayWindow::Verdict::too_old);
  CHECK(window.remembered() == 0);
}

TEST_CASE("crypto: a full replay window forgets its oldest nonces but still refuses them") {
  ReplayWindow window(60'000, 3);
  std::vector<Nonce> nonces(5);
  for (size_t i = 0; i < nonces.size(); ++i) {
    nonces[i][0] = static_cast<uint8_t>(i + 1);
    CHECK(window.check(nonces[i], 1000 + static_cast<int64_t>(i), 2000) ==
          ReplayWindow::Verdict::fresh);
  }
  CHECK(window.remembered() == 3);
  // The first two were forgotten: a replay of them is refused by the floor, not let through.
  CHECK(window.check(nonces[0], 1000, 2000) == ReplayWindow::Verdict::too_old);
  CHECK(window.check(nonces[1], 1001, 2000) == ReplayWindow::Verdict::too_old);
  CHECK(window.check(nonces[4], 1004, 2000) == ReplayWindow::Verdict::replayed);
}

TEST_CASE("crypto: a sealed stream opens in order under the key; replays and tampering fail") {
  Keyring ring;
  const Key key = generate_key();
  REQUIRE(ring.install(key).ok());
  ReplayWindow replays;
  StreamSealer sealer(key, 5000);
  const std::string hello = sealer.hello();
  CHECK(looks_like_hello(hello));
  const std::string one = sealer.seal("raft message 1");
  const std::string two = sealer.seal("raft message 2");
  CHECK(one.find("raft") == std::string::npos);

  auto opened = StreamOpener::open_hello(ring, hello, replays, 5000);
  REQUIRE(opened.opener);
  CHECK(opened.opener->open(one) == std::optional<std::string>("raft message 1"));
  CHECK(opened.opener->open(two) == std::optional<std::string>("raft message 2"));

  // The same connection played back: its hello is refused.
  auto replayed = StreamOpener::open_hello(ring, hello, replays, 5100);
  CHECK_FALSE(replayed.opener);
  CHECK(replayed.failure.find("replayed") != std::string::npos);

  // Frames out of order or tampered with do not open.
  StreamSealer second(key, 5000);
  auto reader = StreamOpener::open_hello(ring, second.hello(), replays, 5000);
  REQUIRE(reader.opener);
  const std::string first_frame = second.seal("a");
  const std::string second_frame = second.seal("b");
  CHECK_FALSE(reader.opener->open(second_frame));
  StreamSealer third(key, 5000);
  auto tamper_reader = StreamOpener::open_hello(ring, third.hello(), replays, 5000);
  REQUIRE(tamper_reader.opener);
  std::string tampered = third.seal("payload");
  tampered[3] = static_cast<char>(tampered[3] ^ 0x40);
  CHECK_FALSE(tamper_reader.opener->open(tampered));

  // Under a key the receiver does not hold, or a hello forged with a known key id: refused.
  Keyring other;
  REQUIRE(other.install(generate_key()).ok());
  CHECK_FALSE(StreamOpener::open_hello(other, StreamSealer(key, 5000).hello(), replays, 5000)
                  .opener);
  std::string forged = StreamSealer(key, 5000).hello();
  forged[forged.size() - 1] = static_cast<char>(forged[forged.size() - 1] ^ 0x01);
  auto refused = StreamOpener::open_hello(ring, forged, replays, 5000);
  CHECK_FALSE(refused.opener);
  CHECK(refused.failure.find("authentication") != std::string::npos);
}
