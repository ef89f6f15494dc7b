// KvWatch on its own, with the agent played by a function: it resumes from the revision after
// the last answer, reports a running watch that fell behind the history as an event (and goes
// on from the oldest revision kept), and fails a first poll from a forgotten revision.
#include <catch2/catch.hpp>

#include <vector>

#include "client/kv_watch.h"

using namespace conclave;
using conclave::client::KvWatch;

namespace {

wire::KvEvent put_event(uint64_t revision) {
  wire::KvEvent event;
  event.entry.key = "app/k";
  event.entry.value = "v";
  event.entry.mod_revision = revision;
  return event;
}

Error forgotten(uint64_t oldest) {
  return Error{ErrorCode::not_found, "no longer kept; the oldest is " + std::to_string(oldest)};
}

}  // namespace

TEST_CASE("kv watch stream: each poll starts after the last answer, errors change nothing") {
  KvWatch watch({"app/", true, 5, 0, 0});
  std::vector<wire::KvWatchRequest> asked;
  std::vector<Result<wire::KvWatchResponse>> answers = {
      wire::KvWatchResponse{{put_event(6), put_event(9)}, 9, 1},
      Error{ErrorCode::timed_out, "no leader"},
      wire::KvWatchResponse{{}, 12, 1},
      wire::KvWatchResponse{{put_event(13)}, 13, 1},
  };
  size_t next = 0;
  auto poll = [&](const wire::KvWatchRequest& request) {
    asked.push_back(request);
    return answers.at(next++);
  };
  auto first = watch.next(poll);
  REQUIRE(first.ok());
  CHECK(first.value().events.size() == 2);
  CHECK_FALSE(watch.next(poll).ok());
  CHECK(watch.next(poll).value().events.empty());
  CHECK(watch.next(poll).value().events.size() == 1);
  REQUIRE(asked.size() == 4);
  CHECK(asked[0].from_revision == 5);
  CHECK(asked[0].wait_ms == KvWatch::kWaitMs);
  CHECK(asked[1].from_revision == 10);
  CHECK(asked[2].from_revision == 10);  // the failed poll is asked again as it was
  CHECK(asked[3].from_revision == 13);
  CHECK(watch.next_revision() == 14);
}

TEST_CASE("kv watch stream: a running watch that fell behind gets an event and goes on") {
  KvWatch watch({"app/", true, 5, 0, 0});
  std::vector<wire::KvWatchRequest> asked;
  std::vector<Result<wire::KvWatchResponse>> answers = {
      wire::KvWatchResponse{{put_event(6)}, 6, 1},
      forgotten(40),                           // 7.. is gone
      wire::KvWatchResponse{{}, 55, 40},       // the probe: the oldest kept is 40
      wire::KvWatchResponse{{put_event(41)}, 41, 40},
  };
  size_t next = 0;
  auto poll = [&](const wire::KvWatchRequest& request) {
    asked.push_back(request);
    return answers.at(next++);
  };
  REQUIRE(watch.next(poll).ok());
  auto behind = watch.next(poll);
  REQUIRE(behind.ok());
  REQUIRE(behind.value().fell_behind);
  CHECK(behind.value().fell_behind->missed_from_revision == 7);
  CHECK(behind.value().fell_behind->resume_revision == 40);
  CHECK(behind.value().events.empty());
  CHECK(asked[2].from_revision == 0);  // the probe asks where the history starts, not waiting
  CHECK(asked[2].wait_ms == 0);
  auto resumed = watch.next(poll);
  REQUIRE(resumed.ok());
  CHECK(asked[3].from_revision == 40);
  CHECK_FALSE(resumed.value().fell_behind);
}

TEST_CASE("kv watch stream: a first poll from a forgotten revision fails, naming the oldest") {
  KvWatch watch({"app/", true, 3, 0, 0});
  auto step = watch.next([](const wire::KvWatchRequest&) -> Result<wire::KvWatchResponse> {
    return forgotten(40);
  });
  REQUIRE_FALSE(step.ok());
  CHECK(step.error().code == ErrorCode::not_found);
  CHECK(step.error().message.find("40") != std::string::npos);
}

TEST_CASE("kv watch stream: after a failover the history may reach back again: no event") {
  KvWatch watch({"app/", true, 5, 0, 0});
  std::vector<Result<wire::KvWatchResponse>> answers = {
      wire::KvWatchResponse{{put_event(6)}, 6, 1},
      forgotten(8),
      wire::KvWatchResponse{{}, 9, 2},  // asked again elsewhere: 7 is kept after all
  };
  size_t next = 0;
  auto poll = [&](const wire::KvWatchRequest&) { return answers.at(next++); };
  REQUIRE(watch.next(poll).ok());
  auto step = watch.next(poll);
  REQUIRE(step.ok());
  CHECK_FALSE(step.value().fell_behind);
  CHECK(watch.next_revision() == 7);
}
