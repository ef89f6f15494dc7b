// The SWIM state machine: probing, suspicion, dissemination and push-pull, composed from the
// member table, the broadcast queue, the probe schedule and the suspicion timeout.
#include "gossip/gossip.h"

#include <algorithm>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/check.h"
#include "common/prng.h"
#include "gossip/broadcast_queue.h"
#include "gossip/local_health.h"
#include "gossip/member_table.h"
#include "gossip/probe_schedule.h"
#include "gossip/suspicion.h"

namespace conclave::gossip {

namespace {

// PingReqs this node may be relaying at once. Each relay lives one probe interval, so this is
// only reached under a flood; beyond it a PingReq is dropped and counted.
constexpr size_t kMaxPendingRelays = 1024;
// TcpSyncs waiting for the agent to take them (beyond: dropped, counted in updates_dropped).
constexpr size_t kMaxPendingTcpSyncs = 64;

// How many members, in expectation, probe a suspect out of turn on hearing of the suspicion.
constexpr double kSuspicionProbers = 4.0;

// Members of another cluster forgotten on purpose, remembered (name -> incarnation) so their
// records still gossiped around do not bring them back; at most this many.
constexpr size_t kMaxForgotten = 1024;


}  // namespace

struct Gossip::State {
  // The probe in flight (SWIM §3.1): one per protocol period.
  struct Probe {
    std::string target;
    uint64_t sequence = 0;
    int64_t started_ms = 0;
    int64_t timeout_ms = 0;   // direct Ack wait, stretched by the local health
    int64_t interval_ms = 0;  // the whole protocol period, stretched likewise
    bool acked = false;
    bool acked_in_time = false;  // directly, within timeout_ms
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  // A ping sent on behalf of a PingReq: its Ack is relayed to the requester (SWIM §3.1), or
  // with `nack_wanted` a Nack is sent at nack_at_ms if none came (Lifeguard).
  struct Relay {
    std::string requester_address;
    std::string requester_name;
    uint64_t requester_sequence = 0;
    int64_t nack_at_ms = 0;
    int64_t expires_ms = 0;
    bool nack_wanted = false;
  };

  State(Options options_in, uint64_t random_seed, int64_t now_ms)
      : options(std::move(options_in)),
        prng(random_seed),
        table(options.max_members),
        queue(options.max_broadcast_queue),
        health(options.lifeguard ? options.max_local_health : 0),
        schedule(options.ring_probes ? options.name : std::string()) {
    // Random first sequence: a restarted node (same seed or not) is unlikely to reuse the
    // sequences of its previous life that may still be in flight.
    next_sequence = prng.next() >> 16;
    // Jittered first rounds, so nodes started together do not probe and gossip in lockstep.
    next_probe_ms = now_ms + prng.between(0, options.probe_interval_ms - 1);
    next_gossip_ms = now_ms + prng.between(0, options.gossip_interval_ms - 1);
    next_push_pull_ms = now_ms + prng.between(0, options.push_pull_interval_ms - 1);
    last_tick_ms = now_ms;
  }

  Options options;
  Prng prng;
  Counters counters;
  MemberTable table;
  BroadcastQueue queue;
  LocalHealth health;
  ProbeSchedule schedule;
  std::map<std::string, Suspicion> suspicions;  // one per suspect member
  std::vector<Outgoing> outgoing;
  std::vector<Event> events;
  std::vector<Conflict> conflicts;
  std::vector<ForeignCluster> foreign;
  std::vector<TcpProbe> tcp_probes;
  std::vector<TcpSync> tcp_syncs;
  std::map<std::string, uint64_t> forgotten;
  uint64_t next_sequence = 0;
  std::optional<Probe> probe;
  std::map<uint64_t, Relay> relays;  // by the sequence of our relaying ping
  int64_t next_probe_ms = 0;
  int64_t next_gossip_ms = 0;
  int64_t next_push_pull_ms = 0;
  int64_t last_tick_ms = 0;
  int64_t next_reap_ms = 0;
  bool leaving = false;

  Member& self() {
    Member* member = table.find(options.name);
    CONCLAVE_CHECK(member != nullptr, "self missing from its own member table");
    return *member;
  }

  size_t header_bytes() const { return packet_header_size_bound(options.name); }

  // ---- sending -------------------------------------------------------------------------

  // Sends `messages` to `to_address`; with `piggyback`, fills the room left with queued
  // updates (SWIM §4.1: dissemination rides on probe traffic), except the one about the
  // recipient (`recipient_name`, when known): its own alive update would teach it nothing
  // and waste one of that update's few transmissions. Every packet stays within
  // max_packet_bytes by the bounds of types.cc; messages that cannot fit are dropped.
  void send(const std::string& to_address, std::vector<Message> messages, bool piggyback,
            const std::string& recipient_name = {}) {
    size_t used_bytes = header_bytes();
    for (const auto& message : messages) used_bytes += encoded_size_bound(message);
    if (used_bytes > options.max_packet_bytes || messages.size() > kMaxMessagesPerPacket) {
      ++counters.updates_dropped;  // cannot happen with sane options; never send oversize
      return;
    }
    if (piggyback && !recipient_name.empty() && messages.size() < kMaxMessagesPerPacket) {
      // A member we believe suspect or dead is told so in every packet we send it
      // (memberlist's probeNode does this for pings to suspects), so it can refute
      // (SWIM §4.2) even after the gossip about it ran out of retransmissions while it was
      // unreachable.
      const Member* recipient = table.find(recipient_name);
      if (recipient != nullptr && (recipient->state == MemberState::suspect ||
                                   recipient->state == MemberState::dead)) {
        Message news{update_from_member(*recipient, options.name)};
        const size_t news_bytes = encoded_size_bound(news);
        if (used_bytes + news_bytes <= options.max_packet_bytes) {
          used_bytes += news_bytes;
          messages.push_back(std::move(news));
        }
      }
    }
    if (piggyback && messages.size() < kMaxMessagesPerPacket) {
      // N counts every member we know, dead and left ones included until reaped (as
      // memberlist does): news of a death is spread as widely as the cluster was large, not
      // with fewer transmissions because the member it is about no longer counts (at N = 10,
      // 4 instead of 8, and in 1% of crashes one member heard it only from its own probe).
      const int limit = retransmit_limit(options.retransmit_multiplier, table.size());
      auto updates = queue.take(options.max_packet_bytes - used_bytes,
                                kMaxMessagesPerPacket - messages.size(), limit,
                                recipient_name);
      for (auto& update : updates) {
        used_bytes += encoded_size_bound(Message{update});
        messages.emplace_back(std::move(update));
      }
    }
    if (messages.empty()) return;
    CONCLAVE_CHECK(used_bytes <= options.max_packet_bytes, "packet over max_packet_bytes");
    CONCLAVE_CHECK(messages.size() <= kMaxMessagesPerPacket, "packet over message limit");
    Outgoing out;
    out.to_address = to_address;
    out.packet.from = options.name;
    out.packet.cluster_id = options.cluster_id;
    out.packet.messages = std::move(messages);
    outgoing.push_back(std::move(out));
    ++counters.packets_sent;
  }

  void broadcast(const MemberUpdate& update) {
    // An update that could never fit a packet would sit in the queue forever: drop it now.
    if (header_bytes() + encoded_size_bound(Message{update}) > options.max_packet_bytes) {
      ++counters.updates_dropped;
      return;
    }
    if (queue.enqueue(update)) ++counters.updates_dropped;
  }

  // Our whole member list, ourselves first (so the first chunk always introduces us), split
  // into as many Sync packets as it needs: datagrams of max_packet_bytes to `to_address`, or,
  // with `tcp_target`, TCP frames of kMaxSyncStreamBytes (usually one) for the agent to send
  // to that member (take_tcp_syncs). Only the first chunk carries `is_reply` as asked; the
  // rest are marked as replies so a receiver answers a split list once, not per chunk.
  void send_sync(const std::string& to_address, bool is_reply,
                 const std::string& tcp_target = {}) {
    std::vector<MemberUpdate> list;
    list.reserve(table.size());
    list.push_back(update_from_member(self()));
    for (const auto& [name, member] : table.all()) {
      if (name != options.name) list.push_back(update_from_member(member));
    }
    const bool over_tcp = !tcp_target.empty();
    const size_t budget_bytes = over_tcp ? kMaxSyncStreamBytes : options.max_packet_bytes;
    const size_t empty_sync_bytes = encoded_size_bound(Message{Sync{}});
    Sync chunk;
    chunk.is_reply = is_reply;
    size_t used_bytes = header_bytes() + empty_sync_bytes;
    auto flush = [&] {
      if (chunk.members.empty()) return;
      if (over_tcp) {
        if (tcp_syncs.size() < kMaxPendingTcpSyncs) {
          Packet packet{options.name, {Message{std::move(chunk)}}, options.cluster_id};
          tcp_syncs.push_back(TcpSync{tcp_target, std::move(packet)});
          ++counters.tcp_syncs_sent;
        } else {
          ++counters.updates_dropped;
        }
      } else {
        send(to_address, {Message{std::move(chunk)}}, false);
      }
      chunk = Sync{};
      chunk.is_reply = true;
      used_bytes = header_bytes() + empty_sync_bytes;
    };
    for (auto& update : list) {
      Sync single;
      single.members.push_back(update);
      const size_t member_bytes = encoded_size_bound(Message{single}) - empty_sync_bytes;
      if (header_bytes() + empty_sync_bytes + member_bytes > budget_bytes) {
        ++counters.updates_dropped;  // cannot fit even alone
        continue;
      }
      if (used_bytes + member_bytes > budget_bytes) flush();
      used_bytes += member_bytes;
      chunk.members.push_back(std::move(update));
    }
    flush();
  }

  // A Sync for member `name` (at `address`): over TCP when enabled (one frame instead of
  // many datagrams, any of which may be lost), else as datagrams.
  void send_sync_to_member(const std::string& name, const std::string& address,
                           bool is_reply) {
    if (options.tcp_push_pull) {
      send_sync(address, is_reply, name);
    } else {
      send_sync(address, is_reply);
    }
  }

  // `count` distinct members chosen uniformly among those `eligible`, never ourselves.
  template <typename Predicate>
  std::vector<const Member*> random_members(size_t count, Predicate eligible) {
    std::vector<const Member*> chosen;
    if (count == 0) return chosen;
    // Usually most members are eligible: draw at random, and walk the whole table only when
    // a few draws did not find enough (most members dead, or a small table).
    const size_t size = table.size();
    for (size_t attempt = 0; attempt < 4 * count && size > 4 * count; ++attempt) {
      const Member& member = table.at(static_cast<size_t>(prng.below(size)));
      if (member.name == options.name || !eligible(member) ||
          std::find(chosen.begin(), chosen.end(), &member) != chosen.end()) {
        continue;
      }
      chosen.push_back(&member);
      if (chosen.size() == count) return chosen;
    }
    std::vector<const Member*> candidates;
    for (const auto& [name, member] : table.all()) {
      if (name != options.name && eligible(member) &&
          std::find(chosen.begin(), chosen.end(), &member) == chosen.end()) {
        candidates.push_back(&member);
      }
    }
    // Partial Fisher-Yates: the first slots are a uniform sample of the rest.
    const size_t take = std::min(count - chosen.size(), candidates.size());
    for (size_t i = 0; i < take; ++i) {
      const size_t j = i + static_cast<size_t>(prng.below(candidates.size() - i));
      std::swap(candidates[i], candidates[j]);
      chosen.push_back(candidates[i]);
    }
    return chosen;
  }

  // ---- merging -------------------------------------------------------------------------

  MemberUpdate self_update() { return update_from_member(self()); }

  void refute(uint64_t heard_incarnation) {
    // SWIM §4.2: only the member itself raises its incarnation, above anything said about it.
    Member& me = self();
    me.incarnation = heard_incarnation + 1;
    ++counters.refutations;
    // Lifeguard: being suspected is a hint that our own packets are late or lost.
    health.apply(1);
    broadcast(self_update());
  }

  void apply_about_self(const MemberUpdate& update) {
    if (leaving) return;  // we are going: let the news of it stand
    const Member& me = self();
    // News of our name at another address is about another agent that holds it (or our own
    // previous life elsewhere). While that one is alive or suspect, never refute it: the two
    // of us would out-bid each other forever; the members that know it tell us instead
    // (NameConflict). Once it is dead or left, the name is free: claim it (refute below).
    if (!update.address.empty() && update.address != me.address &&
        (update.state == MemberState::alive || update.state == MemberState::suspect)) {
      return;
    }
    bool contradicts = false;
    if (update.incarnation > me.incarnation) {
      // Someone holds a newer record of us than we do: our previous life (a restart), or a
      // suspicion of a refutation we already made. Either way, speak above it.
      contradicts = true;
    } else if (update.incarnation == me.incarnation) {
      contradicts = update.state != MemberState::alive || update.address != me.address ||
                    update.metadata != me.metadata;
    }
    if (contradicts) {
      refute(update.incarnation);
    } else if (update.state != MemberState::alive && update.incarnation < me.incarnation &&
               queue.transmits(options.name) < 0) {
      // Someone still spreads a suspicion we already refuted: our refutation ran out of
      // retransmissions before reaching everyone. Spread it again, or the members it missed
      // will declare us dead when their suspicion timeout fires (SWIM §4.2).
      broadcast(self_update());
    }
  }

  // A packet from `sender_name` at `from_address` said we are suspect, dead or left: besides
  // the refutation gossiped to everyone (apply_about_self), answer the sender directly with
  // our current record. Gossip reaches a given member only by chance: the N = 100, 10%-loss
  // run found a member that, after its own failed probe, kept telling the suspect of its
  // suspicion for 6 s without the refutation ever reaching it, and declared it dead.
  void answer_news_about_self(const std::string& from_address, const std::string& sender_name,
                              const MemberUpdate& update) {
    if (leaving || update.name != options.name || update.state == MemberState::alive) return;
    if (!update.address.empty() && update.address != self().address) return;  // not us
    send(from_address, {Message{self_update()}}, false, sender_name);
  }

  void apply_update(const MemberUpdate& update, int64_t now_ms) {
    if (update.name.empty()) return;
    if (update.name == options.name) {
      apply_about_self(update);
      return;
    }
    if (options.cluster_id != 0 && update.cluster_id != 0 &&
        update.cluster_id != options.cluster_id) {
      ++counters.wrong_cluster_dropped;  // a member of another cluster: never merged
      return;
    }
    if (auto gone = forgotten.find(update.name);
        gone != forgotten.end() && update.incarnation <= gone->second) {
      return;  // forgotten on purpose (another cluster's member); only its news is older
    }
    const Member* known = table.find(update.name);
    if (known != nullptr && update.state == MemberState::alive &&
        update.address != known->address &&
        (known->state == MemberState::alive || known->state == MemberState::suspect)) {
      // Another agent announces itself under a live member's name: the name stays with the
      // member we know (a dead or left one may be reclaimed from a new address).
      report_name_conflict(*known, update.address);
      return;
    }
    if (known != nullptr && known->state == MemberState::suspect &&
        update.state == MemberState::suspect && update.incarnation == known->incarnation) {
      confirm_suspicion(update);
      return;
    }
    MergeResult result = table.apply(update, now_ms);
    if (result.outcome == MergeOutcome::table_full) {
      ++counters.updates_dropped;
      return;
    }
    if (result.outcome != MergeOutcome::accepted) return;
    const Member* member = table.find(update.name);
    CONCLAVE_CHECK(member != nullptr, "accepted update left no member");
    if (result.added) schedule.add(member->name, prng);
    track_suspicion(*member, update.from, now_ms);
    // Re-disseminate what we now believe (SWIM §4.1 infection style), with the last known
    // address and metadata even when the update itself is a suspicion or death.
    broadcast(update_from_member(*member, update.from));
    if (result.event) {
      if (result.event->type == EventType::failed) ++counters.members_failed;
      events.push_back(std::move(*result.event));
    }
  }

  // Keeps `suspicions` in step with the table: a member that became suspect (or suspect at a
  // newer incarnation) gets a fresh Suspicion with `accuser` as its first accuser; any other
  // state ends it.
  void track_suspicion(const Member& member, const std::string& accuser, int64_t now_ms) {
    if (member.state != MemberState::suspect) {
      suspicions.erase(member.name);
      return;
    }
    auto it = suspicions.find(member.name);
    if (it != suspicions.end() && it->second.incarnation() == member.incarnation) return;
    const size_t live = table.alive_count();
    const int64_t min_ms = suspicion_timeout_ms(options.suspicion_multiplier, live,
                                                options.probe_interval_ms);
    int64_t max_ms = min_ms;
    int expected = 0;
    if (options.lifeguard) {
      max_ms = static_cast<int64_t>(static_cast<double>(min_ms) *
                                    std::max(1.0, options.suspicion_max_multiplier));
      // Besides the accuser and the accused, at most N - 2 members can confirm.
      const int others = live > 2 ? static_cast<int>(std::min<size_t>(live - 2, 1000)) : 0;
      expected = std::clamp(options.suspicion_confirmations, 0, others);
    }
    suspicions.erase(member.name);
    auto [created, inserted] = suspicions.emplace(
        member.name, Suspicion(member.incarnation, accuser, now_ms, min_ms, max_ms, expected));
    CONCLAVE_CHECK(inserted, "a suspicion was just erased");
    // Our own accusation comes from our own failed probe (finish_probe): the last-chance
    // probe is for suspicions we only heard of.
    if (accuser == options.name) created->second.set_own_probe(Suspicion::OwnProbe::failed);
    // A suspicion heard from another member: a few of those who hear it (about
    // kSuspicionProbers, whatever N) probe the suspect next instead of when their round robin
    // gets there, so a real failure is confirmed within a probe interval or two and a false
    // one is not (the Lifeguard timeout then stays long), rather than waiting on chance.
    if (options.lifeguard && expected > 0 && accuser != options.name &&
        prng.chance(std::min(1.0, kSuspicionProbers / static_cast<double>(live)))) {
      schedule.probe_next(member.name);
    }
  }

  // Another member says the same suspicion (same incarnation): an independent confirmation
  // shortens the timeout (Lifeguard), and is passed on so others count it too.
  void confirm_suspicion(const MemberUpdate& update) {
    auto it = suspicions.find(update.name);
    if (it == suspicions.end() || it->second.incarnation() != update.incarnation) return;
    if (!it->second.confirm(update.from)) return;
    ++counters.suspicion_confirmations;
    broadcast(update);
  }

  void report_name_conflict(const Member& holder, const std::string& claimant_address) {
    ++counters.name_conflicts;
    conflicts.push_back(Conflict{holder.name, holder.address, claimant_address, false});
    // Tell both ends: the claimant must stop; the holder logs it.
    const NameConflict notice{holder.name, holder.address, claimant_address};
    send(claimant_address, {Message{notice}}, false);
    send(holder.address, {Message{notice}}, false);
  }

  void on_name_conflict(const NameConflict& notice) {
    if (notice.name != options.name) return;
    const std::string& address = self().address;
    if (address != notice.claimant_address && address != notice.holder_address) return;
    ++counters.name_conflicts;
    conflicts.push_back(Conflict{notice.name, notice.holder_address, notice.claimant_address,
                                 address == notice.claimant_address});
  }

  // Forgets a member (another cluster's, or reaped): reported as `reaped`.
  void forget(const std::string& name, bool remember_forgotten) {
    const Member* member = table.find(name);
    if (member == nullptr || name == options.name) return;
    events.push_back(Event{EventType::reaped, *member});
    if (remember_forgotten) {
      if (forgotten.size() >= kMaxForgotten) forgotten.erase(forgotten.begin());
      forgotten[name] = member->incarnation;
    }
    table.erase(name);
    schedule.remove(name);
    suspicions.erase(name);
    queue.forget(name);
  }

  // A packet from another cluster's member (or its WrongCluster answer to one of ours): note
  // it for the agent, and forget the sender if we knew it at that address.
  void met_other_cluster(const std::string& from_address, const std::string& sender_name,
                         uint64_t cluster_id) {
    ++counters.wrong_cluster_dropped;
    if (foreign.size() < 64) foreign.push_back(ForeignCluster{from_address, cluster_id});
    const Member* sender = table.find(sender_name);
    if (sender != nullptr && sender->address == from_address) forget(sender_name, true);
  }

  // A verdict of our own about another member (suspect after a failed probe, dead after the
  // suspicion timeout): disseminated like any update, with `from` = us.
  // Declaring a member we already suspect counts as our confirmation of that suspicion.
  void declare(const Member& member, MemberState state, int64_t now_ms) {
    MemberUpdate update = update_from_member(member);
    update.state = state;
    update.from = options.name;
    apply_update(update, now_ms);
  }

  // ---- inbound -------------------------------------------------------------------------

  void on_ping(const std::string& from_address, const std::string& sender_name,
               const Ping& ping) {
    // A ping meant for another name (a previous owner of this address) must not be answered,
    // or that member would look alive (memberlist does the same).
    if (!ping.target.empty() && ping.target != options.name) return;
    send(from_address, {Message{Ack{ping.sequence}}}, true, sender_name);
  }

  void on_ack(const Ack& ack, int64_t now_ms) {
    if (probe && !probe->acked && ack.sequence == probe->sequence) {
      probe->acked = true;
      probe->acked_in_time = !probe->indirect_sent &&
                             now_ms <= probe->started_ms + probe->timeout_ms;
      return;
    }
    auto it = relays.find(ack.sequence);
    if (it == relays.end()) return;  // unknown or expired: ignore
    send(it->second.requester_address, {Message{Ack{it->second.requester_sequence}}}, true,
         it->second.requester_name);
    relays.erase(it);
  }

  void on_ping_req(const std::string& from_address, const std::string& sender_name,
                   const PingReq& request, int64_t now_ms) {
    if (request.target == options.name || request.target_address.empty()) return;
    if (relays.size() >= kMaxPendingRelays) {
      ++counters.updates_dropped;
      return;
    }
    const uint64_t sequence = next_sequence++;
    Relay relay;
    relay.requester_address = from_address;
    relay.requester_name = sender_name;
    relay.requester_sequence = request.sequence;
    relay.nack_wanted = request.nack;
    relay.nack_at_ms = now_ms + options.probe_timeout_ms;
    relay.expires_ms = now_ms + options.probe_interval_ms;
    relays.emplace(sequence, std::move(relay));
    send(request.target_address, {Message{Ping{sequence, request.target}}}, true,
         request.target);
  }

  void on_nack(const Nack& nack) {
    if (probe && !probe->acked && nack.sequence == probe->sequence) {
      ++probe->nacks;
      ++counters.nacks_received;
    }
  }

  // A Sync (push-pull) from `sender_name`, as a datagram from `from_address` or, with
  // `over_tcp`, a frame over the agent's TCP connection (from_address empty).
  void on_sync(const std::string& from_address, const std::string& sender_name,
               const Sync& sync, bool over_tcp, int64_t now_ms) {
    for (const auto& remote : sync.members) {
      MemberUpdate update = remote;
      // memberlist's mergeState: a remote "dead" becomes our suspicion, so a member that the
      // other side of a healed partition declared dead gets a chance to refute instead of
      // dying here at once.
      if (update.state == MemberState::dead) update.state = MemberState::suspect;
      apply_update(update, now_ms);
    }
    if (sync.is_reply || leaving) return;
    // Answer after merging, so the reply already carries our refutations. A push that came
    // over TCP is answered over TCP. A datagram push (a join) is answered with datagrams, and
    // also over TCP when enabled and the sender (its own record leads its list) is now known:
    // the datagrams arrive at once unless one is lost; the frame arrives whole, unless our
    // connection to the sender is still backing off from a partition (seen: a restarted
    // server learned a just-healed member 13 s late when only the frame was sent).
    const Member* sender = sender_name.empty() ? nullptr : table.find(sender_name);
    const bool sender_live = sender != nullptr && (sender->state == MemberState::alive ||
                                                   sender->state == MemberState::suspect);
    if (!over_tcp) send_sync(from_address, true);
    if (options.tcp_push_pull && sender_live) send_sync(sender->address, true, sender->name);
  }

  // ---- timers --------------------------------------------------------------------------

  static void advance(int64_t& next_ms, int64_t interval_ms, int64_t now_ms) {
    next_ms += interval_ms;
    if (next_ms <= now_ms) next_ms = now_ms + interval_ms;  // the caller fell behind
  }

  void finish_probe(int64_t now_ms) {
    if (!probe) return;
    const Probe done = *probe;
    probe.reset();
    if (auto suspicion = suspicions.find(done.target); suspicion != suspicions.end()) {
      suspicion->second.set_own_probe(done.acked ? Suspicion::OwnProbe::answered
                                                 : Suspicion::OwnProbe::failed);
    }
    if (done.acked) {
      // Lifeguard: an answer within the timeout is evidence we are healthy; a late one
      // (through a relay) says nothing either way.
      if (done.acked_in_time) health.apply(-1);
      return;
    }
    // Lifeguard: relays that did not even nack mean our own packets are not getting through;
    // without relays, any failed probe counts against us.
    health.apply(done.expected_nacks > 0 ? done.expected_nacks - done.nacks : 1);
    const Member* target = table.find(done.target);
    // SWIM §4.2: no Ack, direct or relayed, within the protocol period → suspect (or, when
    // already suspect, our confirmation of it).
    if (target != nullptr && (target->state == MemberState::alive ||
                              target->state == MemberState::suspect)) {
      if (target->state == MemberState::alive) ++counters.suspicions_raised;
      declare(*target, MemberState::suspect, now_ms);
    }
  }

  void start_probe(int64_t now_ms) {
    auto target_name = schedule.next(prng, [this](const std::string& name) {
      const Member* member = table.find(name);
      return member != nullptr && (member->state == MemberState::alive ||
                                   member->state == MemberState::suspect);
    });
    if (!target_name) return;
    const Member* target = table.find(*target_name);
    Probe next;
    next.target = *target_name;
    next.sequence = next_sequence++;
    next.started_ms = now_ms;
    next.timeout_ms = health.scale(options.probe_timeout_ms);
    next.interval_ms = health.scale(options.probe_interval_ms);
    probe = next;
    ++counters.probes_sent;
    send(target->address, {Message{Ping{next.sequence, next.target}}}, true, target->name);
  }

  void send_indirect_probes() {
    // SWIM §3.1: k other members ping the target for us, so one lossy path does not condemn
    // it.
    probe->indirect_sent = true;
    const Member* target = table.find(probe->target);
    if (target == nullptr) return;
    if (options.tcp_fallback && tcp_probes.size() < 16) {
      ++counters.tcp_probes;
      tcp_probes.push_back(TcpProbe{probe->sequence, target->name});
    }
    const std::string target_name = target->name;
    const std::string target_address = target->address;
    auto helpers = random_members(static_cast<size_t>(std::max(options.indirect_probes, 0)),
                                  [&](const Member& member) {
                                    return member.state == MemberState::alive &&
                                           member.name != target_name;
                                  });
    for (const Member* helper : helpers) {
      ++counters.indirect_probes_sent;
      if (options.lifeguard) ++probe->expected_nacks;
      send(helper->address,
           {Message{PingReq{probe->sequence, target_name, target_address, options.lifeguard}}},
           true, helper->name);
    }
  }

  void check_suspicions(int64_t now_ms) {
    std::vector<std::string> expired;
    for (const auto& [name, suspicion] : suspicions) {
      if (suspicion.deadline_ms() <= now_ms) expired.push_back(name);
    }
    for (const auto& name : expired) {
      const Member* member = table.find(name);
      CONCLAVE_CHECK(member != nullptr && member->state == MemberState::suspect,
                     "a suspicion outlived its suspect");
      Suspicion& suspicion = suspicions.at(name);
      if (options.lifeguard && suspicion.own_probe() != Suspicion::OwnProbe::failed) {
        // The last-chance probe: we only heard of this suspicion (or the suspect answered our
        // last probe), and may be the one member the refutation missed (seen at N = 100 with
        // 10% loss: 98 of 99 members got it, the 99th declared a live member dead). Probe
        // the suspect ourselves first: our ping tells it it is suspected and its answer
        // carries the refutation. Only our own failed probe lets the timeout stand; a real
        // failure is declared at once by its accusers, whose probes failed.
        suspicion.set_own_probe(Suspicion::OwnProbe::none);
        schedule.probe_next(name);
        suspicion.postpone(2 * health.scale(options.probe_interval_ms));
        continue;
      }
      // SWIM §4.2: a suspicion not refuted within the timeout is confirmed.
      declare(*member, MemberState::dead, now_ms);
    }
  }

  // The stall guard: called when this tick comes `gap_ms` after the previous one. Every
  // pending deadline moves by the gap, so nothing is timed out on the strength of time we did
  // not run; the acks and refutations that queued up meanwhile are read before the next tick.
  void postpone_deadlines(int64_t gap_ms) {
    ++counters.stalls_detected;
    health.apply(1);  // we were the slow one
    if (probe) probe->started_ms += gap_ms;
    next_probe_ms += gap_ms;
    for (auto& [name, suspicion] : suspicions) suspicion.postpone(gap_ms);
    for (auto& [sequence, relay] : relays) {
      relay.nack_at_ms += gap_ms;
      relay.expires_ms += gap_ms;
    }
  }

  void send_due_nacks(int64_t now_ms) {
    for (auto& [sequence, relay] : relays) {
      if (!relay.nack_wanted || relay.nack_at_ms > now_ms) continue;
      relay.nack_wanted = false;  // once
      ++counters.nacks_sent;
      send(relay.requester_address, {Message{Nack{relay.requester_sequence}}}, false);
    }
  }

  void reap(int64_t now_ms) {
    std::vector<std::string> expired;
    for (const auto& [name, member] : table.all()) {
      if (name == options.name) continue;
      if ((member.state == MemberState::dead || member.state == MemberState::left) &&
          member.state_changed_ms + options.dead_member_reap_ms <= now_ms)
        expired.push_back(name);
    }
    for (const auto& name : expired) forget(name, false);
  }

  void gossip_round(int64_t now_ms) {
    // Recently dead members are gossiped to as well (memberlist's GossipToTheDead): one that
    // was declared dead while merely unreachable hears of it and refutes, instead of waiting
    // for a push-pull.
    const int64_t dead_gossip_ms = options.gossip_to_the_dead_ms;
    auto targets = random_members(static_cast<size_t>(std::max(options.gossip_fanout, 0)),
                                  [&](const Member& member) {
                                    return member.state == MemberState::alive ||
                                           member.state == MemberState::suspect ||
                                           (member.state == MemberState::dead &&
                                            now_ms - member.state_changed_ms < dead_gossip_ms);
                                  });
    for (const Member* target : targets) {
      // Nothing to say: skip, unless the target is suspect or dead and must hear it to refute
      // (every packet to it says so).
      if (queue.empty() && target->state == MemberState::alive) continue;
      send(target->address, {}, true, target->name);
    }
  }

  void push_pull_round(int64_t now_ms) {
    // Recently dead (not left) members are candidates too, like Serf's reconnect: after a
    // partition heals, each side reaches the members it declared dead and learns they are
    // not. Uniform choice makes that a dead/(known) chance per round. Members dead for longer
    // than dead_member_reconnect_ms are not tried any more (they wait to be reaped).
    const int64_t reconnect_ms = options.dead_member_reconnect_ms;
    auto targets = random_members(1, [&](const Member& member) {
      return member.state == MemberState::alive || member.state == MemberState::suspect ||
             (member.state == MemberState::dead &&
              now_ms - member.state_changed_ms < reconnect_ms);
    });
    if (!targets.empty()) {
      send_sync_to_member(targets.front()->name, targets.front()->address, false);
    }
  }

  int64_t push_pull_interval_now_ms() const {
    const size_t scale_members = std::max<size_t>(options.push_pull_scale_members, 1);
    const size_t members = table.alive_count();
    if (members <= scale_members) return options.push_pull_interval_ms;
    return static_cast<int64_t>(static_cast<double>(options.push_pull_interval_ms) *
                                static_cast<double>(members) /
                                static_cast<double>(scale_members));
  }

  void expire_relays(int64_t now_ms) {
    for (auto it = relays.begin(); it != relays.end();) {
      if (it->second.expires_ms <= now_ms) {
        it = relays.erase(it);
      } else {
        ++it;
      }
    }
  }
};

Gossip::Gossip(Options options, uint64_t random_seed, int64_t now_ms) {
  CONCLAVE_CHECK(!options.name.empty() && options.name.size() <= kMaxNameBytes,
                 "gossip name must be non-empty and within kMaxNameBytes");
  CONCLAVE_CHECK(!options.address.empty() && options.address.size() <= kMaxAddressBytes,
                 "gossip address must be non-empty and within kMaxAddressBytes");
  CONCLAVE_CHECK(options.metadata.size() <= kMaxMetadataBytes,
                 "gossip metadata must be within kMaxMetadataBytes");
  CONCLAVE_CHECK(options.probe_interval_ms > 0 && options.probe_timeout_ms > 0 &&
                     options.probe_timeout_ms < options.probe_interval_ms,
                 "need 0 < probe_timeout_ms < probe_interval_ms");
  CONCLAVE_CHECK(options.gossip_interval_ms > 0 && options.push_pull_interval_ms > 0,
                 "gossip and push-pull intervals must be positive");
  state_ = std::make_unique<State>(std::move(options), random_seed, now_ms);
  Member self;
  self.name = state_->options.name;
  self.address = state_->options.address;
  self.metadata = state_->options.metadata;
  self.incarnation = state_->options.initial_incarnation;
  self.cluster_id = state_->options.cluster_id;
  self.state_changed_ms = now_ms;
  // Our own record must fit a packet, or nobody could ever learn about us.
  MemberUpdate self_update = update_from_member(self);
  CONCLAVE_CHECK(packet_header_size_bound(self.name) + encoded_size_bound(Message{Sync{
                     false, {self_update}}}) <= state_->options.max_packet_bytes,
                 "max_packet_bytes too small for this node's own name, address and metadata");
  state_->table.insert_self(self);
}

Gossip::~Gossip() = default;

void Gossip::join(const std::vector<std::string>& seed_addresses, int64_t now_ms) {
  (void)now_ms;
  for (const auto& address : seed_addresses) {
    if (address.empty() || address == state_->options.address) continue;
    state_->send_sync(address, false);
  }
}

void Gossip::step(const std::string& from_address, const Packet& packet, int64_t now_ms) {
  State& s = *state_;
  ++s.counters.packets_received;
  if (s.options.cluster_id != 0 && packet.cluster_id != 0 &&
      packet.cluster_id != s.options.cluster_id) {
    // Another cluster's member: nothing in it is merged. Tell it which cluster this is (a
    // packet as small as the smallest it can have sent), unless it is telling us the same.
    const bool is_notice = std::any_of(
        packet.messages.begin(), packet.messages.end(),
        [](const Message& message) { return std::holds_alternative<WrongCluster>(message); });
    s.met_other_cluster(from_address, packet.from, packet.cluster_id);
    if (!is_notice) s.send(from_address, {Message{WrongCluster{s.options.cluster_id}}}, false);
    return;
  }
  // The datagram source is only a return address: a known member's address changes only
  // through its own alive updates, never through where a packet seemed to come from.
  for (const auto& message : packet.messages) {
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, Ping>) {
            s.on_ping(from_address, packet.from, body);
          } else if constexpr (std::is_same_v<T, Ack>) {
            s.on_ack(body, now_ms);
          } else if constexpr (std::is_same_v<T, PingReq>) {
            s.on_ping_req(from_address, packet.from, body, now_ms);
          } else if constexpr (std::is_same_v<T, Nack>) {
            s.on_nack(body);
          } else if constexpr (std::is_same_v<T, NameConflict>) {
            s.on_name_conflict(body);
          } else if constexpr (std::is_same_v<T, WrongCluster>) {
            s.met_other_cluster(from_address, packet.from, body.cluster_id);
          } else if constexpr (std::is_same_v<T, Sync>) {
            s.on_sync(from_address, packet.from, body, false, now_ms);
          } else {
            s.apply_update(body, now_ms);
            s.answer_news_about_self(from_address, packet.from, body);
          }
        },
        message);
  }
}

void Gossip::tick(int64_t now_ms) {
  State& s = *state_;
  const int64_t gap_ms = now_ms - s.last_tick_ms;
  s.last_tick_ms = now_ms;
  if (s.options.stall_threshold_ms > 0 && gap_ms > s.options.stall_threshold_ms) {
    // The stall guard: time nothing out in this tick (see postpone_deadlines).
    s.postpone_deadlines(gap_ms);
    return;
  }
  if (!s.leaving) {
    // SWIM §3.1 protocol period: the previous probe ends when the next one starts.
    if (s.probe && now_ms >= s.probe->started_ms + s.probe->interval_ms) {
      s.finish_probe(now_ms);
    }
    if (now_ms >= s.next_probe_ms) {
      s.finish_probe(now_ms);
      s.start_probe(now_ms);
      // Lifeguard: a node in poor health probes less often (and waits longer for each).
      State::advance(s.next_probe_ms, s.health.scale(s.options.probe_interval_ms), now_ms);
    }
    if (s.probe && !s.probe->acked && !s.probe->indirect_sent &&
        now_ms >= s.probe->started_ms + s.probe->timeout_ms) {
      s.send_indirect_probes();
    }
    s.check_suspicions(now_ms);
    if (now_ms >= s.next_push_pull_ms) {
      s.push_pull_round(now_ms);
      State::advance(s.next_push_pull_ms, s.push_pull_interval_now_ms(), now_ms);
    }
  }
  if (now_ms >= s.next_reap_ms) {
    s.reap(now_ms);
    s.next_reap_ms = now_ms + 1000;  // reaping is measured in hours: once a second is plenty
  }
  if (now_ms >= s.next_gossip_ms) {
    s.gossip_round(now_ms);
    State::advance(s.next_gossip_ms, s.options.gossip_interval_ms, now_ms);
  }
  s.send_due_nacks(now_ms);
  s.expire_relays(now_ms);
}

void Gossip::set_metadata(std::string metadata, int64_t) {
  CONCLAVE_CHECK(metadata.size() <= kMaxMetadataBytes,
                 "gossip metadata must be within kMaxMetadataBytes");
  State& s = *state_;
  Member& me = s.self();
  if (me.metadata == metadata || s.leaving) return;
  // Only a newer incarnation may change what others hold about us (SWIM §4.2).
  me.metadata = std::move(metadata);
  me.incarnation += 1;
  s.options.metadata = me.metadata;
  s.broadcast(s.self_update());
}

void Gossip::leave(int64_t now_ms) {
  State& s = *state_;
  if (s.leaving) return;
  s.leaving = true;
  s.probe.reset();
  s.table.set_state(s.options.name, MemberState::left, now_ms);
  const Member& me = s.self();
  s.broadcast(update_from_member(me, me.name));
}

bool Gossip::leave_spread() const {
  // Done once the news had its retransmissions, or at once when nobody is left to tell (we
  // no longer count ourselves live).
  return state_->leaving && (state_->queue.transmits(state_->options.name) < 0 ||
                             state_->table.alive_count() == 0);
}

std::vector<Outgoing> Gossip::take_outgoing() { return std::exchange(state_->outgoing, {}); }

std::vector<Event> Gossip::take_events() { return std::exchange(state_->events, {}); }

std::vector<Conflict> Gossip::take_conflicts() { return std::exchange(state_->conflicts, {}); }

std::vector<TcpProbe> Gossip::take_tcp_probes() { return std::exchange(state_->tcp_probes, {}); }

std::vector<TcpSync> Gossip::take_tcp_syncs() { return std::exchange(state_->tcp_syncs, {}); }

void Gossip::step_tcp(const Packet& packet, int64_t now_ms) {
  State& s = *state_;
  ++s.counters.tcp_syncs_received;
  if (s.options.cluster_id != 0 && packet.cluster_id != 0 &&
      packet.cluster_id != s.options.cluster_id) {
    ++s.counters.wrong_cluster_dropped;  // the agent's connection checks refuse these first
    return;
  }
  for (const auto& message : packet.messages) {
    if (const auto* sync = std::get_if<Sync>(&message)) {
      s.on_sync("", packet.from, *sync, true, now_ms);
    }
  }
}

void Gossip::tcp_sync_undeliverable(const TcpSync& sync) {
  State& s = *state_;
  const Member* member = s.table.find(sync.target);
  if (member == nullptr || sync.packet.messages.empty()) return;
  const auto* body = std::get_if<Sync>(&sync.packet.messages.front());
  if (body == nullptr) return;
  ++s.counters.tcp_syncs_undeliverable;
  s.send_sync(member->address, body->is_reply);
}

void Gossip::tcp_probe_answered(uint64_t sequence) {
  State& s = *state_;
  if (s.probe && !s.probe->acked && s.probe->sequence == sequence) {
    s.probe->acked = true;
    ++s.counters.tcp_probes_answered;
  }
}

std::vector<ForeignCluster> Gossip::take_foreign_clusters() {
  return std::exchange(state_->foreign, {});
}

void Gossip::set_cluster_id(uint64_t cluster_id, int64_t) {
  State& s = *state_;
  if (cluster_id == 0 || cluster_id == s.options.cluster_id) return;
  s.options.cluster_id = cluster_id;
  Member& me = s.self();
  me.cluster_id = cluster_id;
  me.incarnation += 1;  // so the new record overrides the old everywhere
  if (!s.leaving) s.broadcast(s.self_update());
  std::vector<std::string> others;
  for (const auto& [name, member] : s.table.all()) {
    if (member.cluster_id != 0 && member.cluster_id != cluster_id) others.push_back(name);
  }
  for (const auto& name : others) s.forget(name, true);
}

int Gossip::local_health() const { return state_->health.score(); }

std::vector<Member> Gossip::members() const {
  std::vector<Member> result;
  result.reserve(state_->table.size());
  for (const auto& [name, member] : state_->table.all()) result.push_back(member);
  return result;
}

size_t Gossip::alive_count() const { return state_->table.alive_count(); }

size_t Gossip::queued_updates() const { return state_->queue.size(); }

const Options& Gossip::options() const { return state_->options; }

const Counters& Gossip::counters() const { return state_->counters; }

}  // namespace conclave::gossip
