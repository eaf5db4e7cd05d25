#include "services/events/dispatch.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>

#include "core/thread_name.hpp"

namespace taskhub::events {

namespace json = boost::json;

json::object event_object(const Event& e, json::value payload) {
  return json::object{{"id", e.id},
                      {"seq", e.seq},
                      {"type", e.type},
                      {"time_ms", e.time_ms},
                      {"actor_id", e.actor_id},
                      {"workspace_id", e.workspace_id},
                      {"project_id", e.project_id},
                      {"task_id", e.task_id},
                      {"user_id", e.user_id},
                      {"entity_type", e.entity_type},
                      {"entity_id", e.entity_id},
                      {"payload", std::move(payload)},
                      {"schema_version", e.schema_version}};
}

std::string event_to_json(const Event& e) { return json::serialize(event_object(e, json::value(e.payload))); }

Event event_from_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) throw std::runtime_error("event: not a JSON object");
  const auto& o = v.as_object();
  auto str = [&](const char* k) -> std::string {
    auto* p = o.if_contains(k);
    if (!p || !p->is_string()) throw std::runtime_error(std::string("event: missing string ") + k);
    return std::string(p->as_string());
  };
  auto num = [&](const char* k) -> int64_t {
    auto* p = o.if_contains(k);
    if (!p || !p->is_int64()) throw std::runtime_error(std::string("event: missing integer ") + k);
    return p->as_int64();
  };
  Event e;
  e.id = str("id");
  e.seq = num("seq");
  e.type = str("type");
  e.time_ms = num("time_ms");
  e.actor_id = str("actor_id");
  e.workspace_id = str("workspace_id");
  e.project_id = str("project_id");
  e.task_id = str("task_id");
  e.user_id = str("user_id");
  e.entity_type = str("entity_type");
  e.entity_id = str("entity_id");
  e.payload = str("payload");
  e.schema_version = static_cast<int>(num("schema_version"));
  return e;
}

uint64_t Dispatcher::subscribe(EventBus::Handler h) {
  std::lock_guard lk(mu_);
  uint64_t id = next_id_++;
  handlers_.emplace(id, std::move(h));
  return id;
}

void Dispatcher::unsubscribe(uint64_t id) {
  std::lock_guard lk(mu_);
  handlers_.erase(id);
}

int64_t Dispatcher::last_delivered() const {
  std::lock_guard lk(mu_);
  return last_;
}
uint64_t Dispatcher::delivered_total() const {
  std::lock_guard lk(mu_);
  return delivered_;
}
uint64_t Dispatcher::duplicates_total() const {
  std::lock_guard lk(mu_);
  return duplicates_;
}

bool Dispatcher::seen(const std::string& id) {
  if (recent_.count(id)) return true;
  recent_.insert(id);
  recent_order_.push_back(id);
  if (recent_order_.size() > kRecentIds) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
  return false;
}

void Dispatcher::hand_out(const Event& e) {
  std::vector<EventBus::Handler> hs;
  {
    std::lock_guard lk(mu_);
    hs.reserve(handlers_.size());
    for (auto& [id, h] : handlers_) hs.push_back(h);
  }
  for (auto& h : hs) {
    try {
      h(e);
    } catch (const std::exception& ex) {
      // One failing consumer must not starve the others; it logs and the event goes on.
      spdlog::error("events: subscriber failed on {} {}: {}", e.type, e.id, ex.what());
    }
  }
}

std::size_t Dispatcher::deliver(const Event& e) {
  int64_t last;
  {
    std::lock_guard lk(mu_);
    if ((e.seq > 0 && e.seq <= last_) || seen(e.id)) {
      ++duplicates_;
      return 0;
    }
    last = last_;
  }
  std::size_t n = 0;
  if (e.seq > last + 1 && fill_) {
    // Fill the gap in pages; bounded: beyond kMaxGapFill a subscriber gets the later events
    // only (replay through the outbox remains available to consumers that need it).
    int64_t after = last;
    std::size_t filled = 0;
    while (after + 1 < e.seq && filled < kMaxGapFill) {
      std::vector<Event> page;
      try {
        page = fill_(after, std::min<std::size_t>(500, static_cast<std::size_t>(e.seq - after - 1)));
      } catch (const std::exception& ex) {
        spdlog::warn("events: filling seq gap {}..{} from the outbox failed: {}", after + 1, e.seq - 1, ex.what());
        break;
      }
      if (page.empty()) break;
      for (const auto& g : page) {
        if (g.seq >= e.seq) break;
        after = g.seq;
        ++filled;
        {
          std::lock_guard lk(mu_);
          if (g.seq <= last_ || seen(g.id)) continue;
          last_ = g.seq;
          ++delivered_;
        }
        hand_out(g);
        ++n;
      }
      if (page.back().seq >= e.seq) break;
    }
  }
  {
    std::lock_guard lk(mu_);
    if (e.seq > last_) last_ = e.seq;
    ++delivered_;
  }
  hand_out(e);
  return n + 1;
}

InProcessBus::InProcessBus(int64_t start_after_seq, Dispatcher::GapFill fill)
    : dispatcher_(start_after_seq, std::move(fill)) {
  thread_ = std::thread([this] {
    set_thread_name("events-dispatch");
    loop();
  });
}

InProcessBus::~InProcessBus() { stop(); }

void InProcessBus::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void InProcessBus::publish(const Event& e) {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [this] { return stopping_ || queue_.size() < kMaxQueue; });
  if (stopping_) throw std::runtime_error("event bus stopped");
  queue_.push_back(e);
  cv_.notify_all();
}

bool InProcessBus::drain(int timeout_ms) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                      [this] { return stopping_ || (queue_.empty() && !busy_); });
}

void InProcessBus::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Event e = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    dispatcher_.deliver(e);
    lk.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace taskhub::events
