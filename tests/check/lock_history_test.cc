// The lock and set checkers (check/lock_history.h, check/fenced_counter.h, check/set_history.h):
// each property rejects a history that breaks it, and legal histories pass.
#include <catch2/catch.hpp>

#include "check/fenced_counter.h"
#include "check/lock_history.h"
#include "check/set_history.h"

using namespace conclave::check;

namespace {

LockGrant grant(int client, uint64_t token, int64_t invoke_ms, int64_t granted_ms,
                int64_t valid_until_ms, std::optional<int64_t> gave_up_ms = std::nullopt) {
  return LockGrant{client, token, invoke_ms, granted_ms, valid_until_ms, gave_up_ms, ""};
}

bool mentions(const LockHistoryVerdict& verdict, const std::string& words) {
  for (const auto& sentence : verdict.violations) {
    if (sentence.find(words) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a lock history of holders one after another passes", "[lock]") {
  // Client 2 waits while client 1 holds; client 1 releases at 150, 2 is granted at 160.
  std::vector<LockGrant> grants = {grant(1, 10, 0, 5, 1000, 150), grant(2, 11, 20, 160, 2000, 300),
                                   grant(3, 12, 310, 320, 900)};
  FencedCounter counter;
  REQUIRE(counter.read(1, 10) == 0);
  REQUIRE(counter.write(1, 10, 1));
  REQUIRE(counter.read(2, 11) == 1);
  REQUIRE(counter.write(2, 11, 2));
  auto verdict = check_lock_history(grants, counter.accepted_writes());
  INFO(verdict.violations.size());
  CHECK(verdict.ok);
  CHECK(verdict.grants == 3);
  CHECK(verdict.fenced_writes == 2);
}

TEST_CASE("a token granted twice is a violation", "[lock]") {
  auto verdict = check_lock_history({grant(1, 10, 0, 5, 100, 50), grant(2, 10, 60, 70, 200)}, {});
  CHECK_FALSE(verdict.ok);
  CHECK(mentions(verdict, "token granted twice"));
}

TEST_CASE("a smaller token granted after a larger one completed is a violation", "[lock]") {
  // Client 1's grant (token 12) was answered at 5, before client 2 even asked (60), yet client 2
  // got token 11.
  auto verdict = check_lock_history({grant(1, 12, 0, 5, 50, 50), grant(2, 11, 60, 70, 200)}, {});
  CHECK_FALSE(verdict.ok);
  CHECK(mentions(verdict, "tokens out of real-time order"));
}

TEST_CASE("concurrent acquires may get tokens in either order", "[lock]") {
  // Both acquires overlap in time: either token order is legal.
  auto verdict =
      check_lock_history({grant(1, 12, 0, 50, 60, 60), grant(2, 11, 10, 5000, 6000)}, {});
  CHECK(verdict.ok);
}

TEST_CASE("a lock granted while the previous holder was still entitled is a violation",
          "[lock]") {
  // Client 1 was told its lock is valid until 1000 and never gave it up; client 2 was granted
  // at 500: a lock granted to someone else while a holder may still act on it.
  auto verdict = check_lock_history({grant(1, 10, 0, 5, 1000), grant(2, 11, 20, 500, 2000)}, {});
  CHECK_FALSE(verdict.ok);
  CHECK(mentions(verdict, "two holders at once"));
  // The same with client 1 giving up at 400 is fine.
  CHECK(check_lock_history({grant(1, 10, 0, 5, 1000, 400), grant(2, 11, 20, 500, 2000)}, {}).ok);
  // Within the clock slack is fine too (ms rounding).
  CHECK(check_lock_history({grant(1, 10, 0, 5, 501), grant(2, 11, 20, 500, 2000)}, {}).ok);
}

TEST_CASE("the fenced counter refuses old tokens, reads included", "[lock]") {
  FencedCounter counter;
  REQUIRE(counter.read(1, 5) == 0);     // holder with token 5 reads 0
  REQUIRE(counter.read(2, 6) == 0);     // a newer holder reads 0 too
  CHECK_FALSE(counter.write(1, 5, 1));  // the old holder's write is refused
  CHECK(counter.write(2, 6, 1));
  CHECK_FALSE(counter.read(1, 5).has_value());
  CHECK(counter.refused() == 2);
  CHECK(check_lock_history({}, counter.accepted_writes()).ok);
}

TEST_CASE("a lost update at the fenced counter is a violation", "[lock]") {
  // Two holders with one token both read 0 and both write 1: the counter accepts both (equal
  // tokens), and the checker sees the second 1.
  FencedCounter counter;
  REQUIRE(counter.read(1, 7) == 0);
  REQUIRE(counter.read(2, 7) == 0);
  REQUIRE(counter.write(1, 7, 1));
  REQUIRE(counter.write(2, 7, 1));
  auto verdict = check_lock_history({}, counter.accepted_writes());
  CHECK_FALSE(verdict.ok);
  CHECK(mentions(verdict, "lost update"));
}

TEST_CASE("an out-of-order fenced write is a violation", "[lock]") {
  // A log the counter itself would never produce: the checker still catches it.
  auto verdict = check_lock_history({}, {FencedWrite{1, 9, 1}, FencedWrite{2, 8, 2}});
  CHECK_FALSE(verdict.ok);
  CHECK(mentions(verdict, "out-of-order fenced write"));
}

TEST_CASE("the set checker finds lost and invented elements", "[set]") {
  std::vector<SetAdd> adds = {{"a", true}, {"b", true}, {"c", false}, {"d", false}};
  auto fine = check_set(adds, {"a", "b", "c"});
  CHECK(fine.ok);
  CHECK(fine.acknowledged == 2);
  CHECK(fine.unknown == 2);
  CHECK(fine.unknown_present == 1);

  auto lost = check_set(adds, {"a", "c", "d"});
  CHECK_FALSE(lost.ok);
  CHECK(lost.lost == std::vector<std::string>{"b"});

  auto invented = check_set(adds, {"a", "b", "zzz"});
  CHECK_FALSE(invented.ok);
  CHECK(invented.unexpected == std::vector<std::string>{"zzz"});
}

TEST_CASE("the in-cluster fenced counter: repeats, losses and extra increments are violations",
          "[lock]") {
  FencedRegisterHistory fine;
  fine.acknowledged_values = {1, 2, 4};
  fine.unknown = 1;              // 3 was written, its answer lost
  fine.final_value = 4;
  CHECK(check_fenced_register(fine).empty());

  FencedRegisterHistory repeated = fine;
  repeated.acknowledged_values = {1, 2, 2, 3};
  repeated.final_value = 3;
  auto violations = check_fenced_register(repeated);
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].find("lost update") != std::string::npos);

  FencedRegisterHistory lost = fine;
  lost.final_value = 2;
  REQUIRE(check_fenced_register(lost).size() == 1);
  CHECK(check_fenced_register(lost)[0].find("acknowledged fenced write is lost") !=
        std::string::npos);

  FencedRegisterHistory too_many = fine;
  too_many.final_value = 9;
  REQUIRE(check_fenced_register(too_many).size() == 1);
  CHECK(check_fenced_register(too_many)[0].find("more than") != std::string::npos);
}
