#include "adapters/redis/redis_bus.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <memory>
#include <stdexcept>

#include "core/thread_name.hpp"

namespace taskhub::redis {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply command(redisContext* c, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  void* r = redisvCommand(c, fmt, ap);
  va_end(ap);
  return Reply(static_cast<redisReply*>(r));
}

int to_port(std::string_view s, const std::string& uri) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < 1 || v > 65535)
    throw std::runtime_error("REDIS_URI has an invalid port: " + uri);
  return v;
}

}  // namespace

RedisOptions parse_redis_uri(const std::string& uri) {
  RedisOptions o;
  std::string_view s = uri;
  constexpr std::string_view kScheme = "redis://";
  if (s.substr(0, kScheme.size()) != kScheme)
    throw std::runtime_error("REDIS_URI must look like redis://host:port[/db] (got '" + uri + "')");
  s.remove_prefix(kScheme.size());
  std::string_view path;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    path = s.substr(slash + 1);
    s = s.substr(0, slash);
  }
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = s.substr(0, at);
    s = s.substr(at + 1);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) o.password = std::string(cred.substr(colon + 1));
  }
  if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    o.port = to_port(s.substr(colon + 1), uri);
    s = s.substr(0, colon);
  }
  if (s.empty()) throw std::runtime_error("REDIS_URI has no host: " + uri);
  o.host = std::string(s);
  if (!path.empty()) {
    int db = -1;
    auto [p, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc{} || p != path.data() + path.size() || db < 0 || db > 1000)
      throw std::runtime_error("REDIS_URI has an invalid database number: " + uri);
    o.db = db;
  }
  return o;
}

RedisBus::RedisBus(RedisOptions opt, int64_t start_after_seq, events::Dispatcher::GapFill fill)
    : opt_(std::move(opt)), dispatcher_(start_after_seq, std::move(fill)) {}

RedisBus::~RedisBus() {
  stop();
  if (pub_) redisFree(pub_);
}

redisContext* RedisBus::connect(int command_timeout_ms) {
  redisContext* c = redisConnectWithTimeout(opt_.host.c_str(), opt_.port, to_timeval(opt_.timeout_ms));
  auto fail = [&](const std::string& what) -> redisContext* {
    spdlog::debug("redis {}:{}: {}", opt_.host, opt_.port, what);
    if (c) redisFree(c);
    return nullptr;
  };
  if (!c) return fail("out of memory");
  if (c->err) return fail(c->errstr);
  redisSetTimeout(c, to_timeval(command_timeout_ms));
  redisEnableKeepAlive(c);
  if (!opt_.password.empty()) {
    Reply r = command(c, "AUTH %b", opt_.password.data(), opt_.password.size());
    if (!r || r->type == REDIS_REPLY_ERROR) return fail("AUTH failed");
  }
  if (opt_.db != 0) {
    Reply r = command(c, "SELECT %d", opt_.db);
    if (!r || r->type == REDIS_REPLY_ERROR) return fail("SELECT failed");
  }
  return c;
}

void RedisBus::publish(const events::Event& e) {
  if (e.seq <= 0) throw std::invalid_argument("RedisBus::publish: event without seq");
  std::lock_guard lk(pub_mu_);
  if (!pub_) {
    if (steady_ms() < pub_retry_at_ms_) throw std::runtime_error("redis unavailable (reconnecting)");
    pub_ = connect(opt_.timeout_ms);
    if (!pub_) {
      pub_backoff_ms_ = std::clamp(pub_backoff_ms_ * 2, opt_.backoff_min_ms, opt_.backoff_max_ms);
      pub_retry_at_ms_ = steady_ms() + pub_backoff_ms_;
      if (!pub_warned_)
        spdlog::warn("events: redis {}:{} unreachable; events stay in the outbox", opt_.host, opt_.port);
      pub_warned_ = true;
      throw std::runtime_error("redis unavailable");
    }
    if (pub_warned_) spdlog::info("events: redis {}:{} reachable again", opt_.host, opt_.port);
    pub_warned_ = false;
    pub_backoff_ms_ = 0;
  }
  std::string body = events::event_to_json(e);
  std::string id = std::to_string(e.seq) + "-0";
  Reply r = command(pub_, "XADD %b MAXLEN ~ %lld %b e %b", opt_.stream.data(), opt_.stream.size(),
                    static_cast<long long>(opt_.max_len), id.data(), id.size(), body.data(), body.size());
  if (!r) {
    spdlog::warn("events: redis publish failed: {}", pub_->errstr);
    redisFree(pub_);
    pub_ = nullptr;
    pub_backoff_ms_ = opt_.backoff_min_ms;
    pub_retry_at_ms_ = steady_ms() + pub_backoff_ms_;
    pub_warned_ = true;
    throw std::runtime_error("redis publish failed");
  }
  if (r->type == REDIS_REPLY_ERROR) {
    std::string_view msg(r->str, r->len);
    // Already in the stream: an earlier publish got through but its acknowledgement (or the
    // outbox's published mark) was lost. Redis refuses ids not above the stream's top.
    if (msg.find("equal or smaller") != std::string_view::npos) return;
    throw std::runtime_error("redis XADD: " + std::string(msg));
  }
}

void RedisBus::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    set_thread_name("redis-bus");
    loop();
  });
}

void RedisBus::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RedisBus::wait_stop(int ms) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void RedisBus::loop() {
  redisContext* c = nullptr;
  int backoff = 0;
  bool warned = false;
  // Stream position: past every delivered event and past entries skipped as malformed (which
  // would otherwise be read again forever).
  int64_t cursor = 0;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) break;
    }
    if (!c) {
      c = connect(opt_.block_ms + opt_.timeout_ms);
      if (!c) {
        sub_up_ = false;
        if (!warned) spdlog::warn("events: redis subscriber cannot reach {}:{}; retrying", opt_.host, opt_.port);
        warned = true;
        backoff = std::clamp(backoff * 2, opt_.backoff_min_ms, opt_.backoff_max_ms);
        if (wait_stop(backoff)) break;
        continue;
      }
      if (warned) {
        spdlog::info("events: redis subscriber connected to {}:{}", opt_.host, opt_.port);
        ++reconnects_;
      }
      warned = false;
      backoff = 0;
      sub_up_ = true;
    }
    cursor = std::max(cursor, dispatcher_.last_delivered());
    std::string from = std::to_string(cursor) + "-0";
    Reply r = command(c, "XREAD COUNT 200 BLOCK %d STREAMS %b %b", opt_.block_ms, opt_.stream.data(),
                      opt_.stream.size(), from.data(), from.size());
    if (!r || r->type == REDIS_REPLY_ERROR) {
      spdlog::warn("events: redis XREAD failed: {}", r ? std::string(r->str, r->len) : std::string(c->errstr));
      redisFree(c);
      c = nullptr;
      sub_up_ = false;
      warned = true;
      backoff = opt_.backoff_min_ms;
      if (wait_stop(backoff)) break;
      continue;
    }
    if (r->type != REDIS_REPLY_ARRAY) continue;  // nil: BLOCK timed out
    for (size_t s = 0; s < r->elements; ++s) {
      redisReply* stream = r->element[s];
      if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2) continue;
      redisReply* entries = stream->element[1];
      for (size_t i = 0; i < entries->elements; ++i) {
        redisReply* entry = entries->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
        std::string_view entry_id(entry->element[0]->str, entry->element[0]->len);
        int64_t entry_seq = 0;
        std::from_chars(entry_id.data(), entry_id.data() + entry_id.size(), entry_seq);
        cursor = std::max(cursor, entry_seq);
        redisReply* fields = entry->element[1];
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
          if (std::string_view(fields->element[f]->str, fields->element[f]->len) != "e") continue;
          try {
            dispatcher_.deliver(
                events::event_from_json(std::string_view(fields->element[f + 1]->str, fields->element[f + 1]->len)));
          } catch (const std::exception& ex) {
            spdlog::error("events: malformed stream entry {}: {}", entry_id, ex.what());
          }
        }
      }
    }
  }
  sub_up_ = false;
  if (c) redisFree(c);
}

}  // namespace taskhub::redis
