// libFuzzer target: opening sealed gossip datagrams and sealed agent-to-agent streams
// (crypto/datagram_seal.h, crypto/stream_seal.h) with their replay windows, as agent/runtime.cc
// and agent/peer_transport.cc do (built and run by scripts/fuzz.sh).
//
// The input is a sequence of records (tests/fuzz/records.h). A record's first byte says what
// the rest is: the low two bits 0 = a gossip datagram, 1 = a connection's hello (a new
// connection), 2 = the next frame on that connection, 3 = a datagram or a hello, told apart by
// the magic as a receiver in the plaintext-to-encrypted migration does; the other six bits are
// the seconds the receiver's clock moves on before it. The keyring is fixed
// (tests/fuzz/sealed_messages.h).
//
// What must hold: nothing opens unless it is byte for byte a message sealed with a key of the
// keyring (the seeds hold some), and each of those opens to what was sealed; a frame opens only
// at its place in its own stream; no datagram or hello is accepted twice by a replay window; a
// failure always says why.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/check.h"
#include "crypto/datagram_seal.h"
#include "crypto/replay_window.h"
#include "crypto/stream_seal.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/records.h"
#include "tests/fuzz/sealed_messages.h"

namespace {

using namespace conclave::crypto;
using conclave::crypto::fuzz::SealedDatagram;
using conclave::crypto::fuzz::SealedMessages;
using conclave::crypto::fuzz::SealedStream;

const Keyring* keyring = nullptr;
const SealedMessages* sealed = nullptr;

const SealedDatagram* sealed_datagram(std::string_view bytes) {
  for (const SealedDatagram& datagram : sealed->datagrams) {
    if (datagram.bytes == bytes) return &datagram;
  }
  return nullptr;
}

const SealedStream* sealed_stream(std::string_view hello) {
  for (const SealedStream& stream : sealed->streams) {
    if (stream.hello == hello) return &stream;
  }
  return nullptr;
}

Nonce nonce_of(std::string_view bytes) {
  Nonce nonce{};
  std::copy(bytes.begin(), bytes.begin() + nonce.size(), nonce.begin());
  return nonce;
}

// One receiver: a gossip socket and the agent-to-agent connections, one at a time.
class Receiver {
 public:
  void advance(int64_t seconds) { now_ms_ += seconds * 1000; }

  void datagram(std::string_view bytes) {
    const OpenedDatagram opened = open_datagram(*keyring, bytes);
    const SealedDatagram* genuine = sealed_datagram(bytes);
    if (genuine == nullptr) {
      CONCLAVE_CHECK(opened.failure.has_value(), "a datagram nobody sealed opened");
    } else {
      CONCLAVE_CHECK(!opened.failure && opened.payload == genuine->payload &&
                         opened.sent_at_ms == genuine->sent_at_ms,
                     "a sealed datagram did not open to what was sealed");
    }
    if (opened.failure) {
      CONCLAVE_CHECK(looks_sealed(bytes) || *opened.failure == OpenFailure::not_sealed,
                     "a datagram without the magic was not called plaintext");
      CONCLAVE_CHECK(opened.payload.empty() && opened.sent_at_ms == 0,
                     "a datagram that did not open gave a payload");
      return;
    }
    const ReplayWindow::Verdict verdict =
        datagram_replays_.check(opened.nonce, opened.sent_at_ms, now_ms_);
    check_verdict(verdict, opened.nonce, opened.sent_at_ms, accepted_datagrams_);
  }

  void hello(std::string_view bytes) {
    opener_.reset();  // a hello starts a new connection
    stream_ = nullptr;
    next_frame_ = 0;
    StreamOpener::Opened opened = StreamOpener::open_hello(*keyring, bytes, hello_replays_,
                                                           now_ms_);
    const SealedStream* genuine = sealed_stream(bytes);
    if (!opened.opener) {
      CONCLAVE_CHECK(!opened.failure.empty(), "a hello was refused without a reason");
      // A sealed hello is refused only by the replay window (its time, or a replay).
      CONCLAVE_CHECK(genuine == nullptr || opened.failure.rfind("hello ", 0) == 0,
                     "a sealed hello did not open");
      if (opened.failure == std::string("hello ") +
                                verdict_name(ReplayWindow::Verdict::replayed)) {
        CONCLAVE_CHECK(genuine != nullptr &&
                           accepted_hellos_.count(
                               nonce_of(bytes.substr(fuzz::kHelloNonceOffset))) != 0,
                       "a hello never accepted was refused as a replay");
      }
      return;
    }
    CONCLAVE_CHECK(genuine != nullptr, "a hello nobody sealed opened");
    CONCLAVE_CHECK(opened.key_id == genuine->key_id, "a hello opened under the wrong key");
    check_verdict(ReplayWindow::Verdict::fresh,
                  nonce_of(bytes.substr(fuzz::kHelloNonceOffset)), genuine->sent_at_ms,
                  accepted_hellos_);
    opener_ = std::move(opened.opener);
    stream_ = genuine;
  }

  void frame(std::string_view bytes) {
    if (!opener_) return;  // no connection
    const std::optional<std::string> payload = opener_->open(bytes);
    const bool expected = stream_ != nullptr && next_frame_ < stream_->frames.size() &&
                          stream_->frames[next_frame_] == bytes;
    if (!payload) {
      CONCLAVE_CHECK(!expected, "a sealed frame did not open at its place in its stream");
      opener_.reset();  // the receiver drops the connection
      return;
    }
    CONCLAVE_CHECK(expected, "a frame opened that is not the next one sealed on the stream");
    CONCLAVE_CHECK(*payload == stream_->payloads[next_frame_],
                   "a frame did not open to what was sealed");
    ++next_frame_;
  }

 private:
  void check_verdict(ReplayWindow::Verdict verdict, const Nonce& nonce, int64_t sent_at_ms,
                     std::set<Nonce>& accepted) {
    switch (verdict) {
      case ReplayWindow::Verdict::fresh:
        CONCLAVE_CHECK(sent_at_ms >= now_ms_ - fuzz::kWindowMs &&
                           sent_at_ms <= now_ms_ + fuzz::kWindowMs,
                       "accepted a message sent outside the window");
        CONCLAVE_CHECK(accepted.insert(nonce).second, "accepted a replayed message");
        break;
      case ReplayWindow::Verdict::replayed:
        CONCLAVE_CHECK(accepted.count(nonce) != 0, "refused as a replay a message never seen");
        break;
      case ReplayWindow::Verdict::too_new:
        CONCLAVE_CHECK(sent_at_ms > now_ms_ + fuzz::kWindowMs, "refused a message as too new");
        break;
      case ReplayWindow::Verdict::too_old: break;  // or at or below the eviction floor
    }
  }

  int64_t now_ms_ = fuzz::kStartMs;
  ReplayWindow datagram_replays_{fuzz::kWindowMs, fuzz::kMaxRemembered};
  ReplayWindow hello_replays_{fuzz::kWindowMs, fuzz::kMaxRemembered};
  std::set<Nonce> accepted_datagrams_;
  std::set<Nonce> accepted_hellos_;
  std::optional<StreamOpener> opener_;
  const SealedStream* stream_ = nullptr;
  size_t next_frame_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::use_deterministic_randomness();
  keyring = new Keyring(fuzz::fixed_keyring());
  sealed = new SealedMessages(fuzz::make_sealed_messages());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = conclave::wire::fuzz::as_view(data, size);
  // The whole input as one datagram, too.
  CONCLAVE_CHECK(open_datagram(*keyring, input).failure || sealed_datagram(input) != nullptr,
                 "a datagram nobody sealed opened");

  Receiver receiver;
  for (std::string_view record : conclave::fuzz::split_records(input)) {
    if (record.empty()) continue;
    const uint8_t tag = static_cast<uint8_t>(record[0]);
    const std::string_view message = record.substr(1);
    receiver.advance(tag >> 2);
    switch (tag & 3) {
      case 0: receiver.datagram(message); break;
      case 1: receiver.hello(message); break;
      case 2: receiver.frame(message); break;
      default:
        if (looks_like_hello(message)) {
          receiver.hello(message);
        } else {
          receiver.datagram(message);
        }
        break;
    }
  }
  return 0;
}
