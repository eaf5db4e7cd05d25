// The HTTP server: Boost.Beast HTTP/1.1 + C++20 coroutines. The only file (with
// asio_impl.cpp) that includes Beast/Asio headers; Asio and Beast are compiled separately
// in asio_impl.cpp.
//
// One connection = one coroutine on its own strand:
//   wait for the first byte (idle timeout) -> read the head (one deadline for the whole
//   head) -> route -> body limit from the route -> read the body (body deadline) ->
//   run middleware + handler (inline, or on the blocking pool and back) -> write.
#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sodium.h>
#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>
#include <deque>
#include <list>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/thread_name.hpp"
#include "core/time.hpp"

namespace taskhub::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxTarget = 8 * 1024;
constexpr const char* kCorsAllowHeaders = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-Id";
constexpr const char* kCorsExposeHeaders = "X-Request-Id, ETag, Location, Retry-After, Idempotent-Replayed";
constexpr const char* kDefaultCsp = "default-src 'none'; frame-ancestors 'none'";

// ---------------------------------------------------------------------------------------
// Small helpers

// The head of an answer whose body is in memory, written here rather than through beast's
// fields, which allocate a node per header and walk them again to serialize (about 12% of the
// CPU of a GET /tasks/{id}, session 9). The same bytes as beast's keep_alive() and
// prepare_payload() for these answers (never 1xx, 204 or 304; never chunked): HTTP/1.0 gets
// "Connection: keep-alive" when the connection stays open, HTTP/1.1 "Connection: close" when it
// does not, after the answer's own Connection tokens if it has some (a 426 has "Upgrade").
// Content-Length comes only from here. A header with CR or LF in it would end the head early
// (response splitting): it is dropped and logged; beast would have written it as it was.
std::string response_head(int status, unsigned version, const Headers& headers, bool keep_alive,
                          std::size_t content_length) {
  std::string head;
  head.reserve(640);
  head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  head.append(reason.data(), reason.size());
  head += "\r\n";
  std::string_view connection;  // the answer's own tokens, e.g. "Upgrade" on a 426
  for (const auto& [k, v] : headers.items()) {
    if (k.empty() || k.find_first_of("\r\n: ") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
      spdlog::error("http: dropped the response header '{}': its name or value is not a valid header", k);
      continue;
    }
    if (beast::iequals(k, "Content-Length") || beast::iequals(k, "Transfer-Encoding")) continue;
    if (beast::iequals(k, "Connection")) {
      connection = v;
      continue;
    }
    head += k;
    head += ": ";
    head += v;
    head += "\r\n";
  }
  const std::string_view persistence =
      version == 10 ? (keep_alive ? "keep-alive" : "") : (keep_alive ? "" : "close");
  if (!connection.empty() || !persistence.empty()) {
    head += "Connection: ";
    head.append(connection.data(), connection.size());
    if (!connection.empty() && !persistence.empty()) head += ", ";
    head.append(persistence.data(), persistence.size());
    head += "\r\n";
  }
  head += "Content-Length: ";
  head += std::to_string(content_length);
  head += "\r\n\r\n";
  return head;
}

bool valid_request_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return true;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict percent-decoding of the path: invalid escapes and NUL are errors.
bool decode_path(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
      if (h < 0 || l < 0) return false;
      char d = static_cast<char>(h * 16 + l);
      if (d == '\0') return false;
      out.push_back(d);
      i += 2;
    } else if (c == '\0') {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.append(sep);
    out.append(s);
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A `Range` header against a file of `size` bytes. Only one `bytes=` range is served; a
// malformed header or several ranges are ignored (RFC 9110 14.2: a server may ignore Range),
// which answers the whole file.
struct ByteRange {
  enum class Kind { whole, part, unsatisfiable } kind = Kind::whole;
  std::uint64_t first = 0, last = 0;  // inclusive, when part
};

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

ByteRange parse_byte_range(std::string_view h, std::uint64_t size) {
  ByteRange r;
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  if (h.size() < 7 || !beast::iequals(h.substr(0, 6), "bytes=")) return r;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return r;  // multi-range: whole file
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return r;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last b bytes
    if (!parse_u64(b, last)) return r;
    if (last == 0 || size == 0) return {ByteRange::Kind::unsatisfiable};
    r.first = last >= size ? 0 : size - last;
    r.last = size - 1;
  } else {
    if (!parse_u64(a, first)) return r;
    if (b.empty()) {
      last = size ? size - 1 : 0;
    } else if (!parse_u64(b, last) || last < first) {
      return r;
    }
    if (first >= size) return {ByteRange::Kind::unsatisfiable};
    r.first = first;
    r.last = std::min(last, size - 1);
  }
  r.kind = ByteRange::Kind::part;
  return r;
}

// Removes a spooled request body once the request is over, on every path out of it.
struct SpoolFile {
  std::string path;
  SpoolFile() = default;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (ec) spdlog::warn("could not remove the spooled body {}: {}", path, ec.message());
  }
};

const char* content_type_for(std::string_view path) {
  if (ends_with(path, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(path, ".css")) return "text/css; charset=utf-8";
  if (ends_with(path, ".html")) return "text/html; charset=utf-8";
  if (ends_with(path, ".json") || ends_with(path, ".map")) return "application/json";
  if (ends_with(path, ".png")) return "image/png";
  if (ends_with(path, ".svg")) return "image/svg+xml";
  if (ends_with(path, ".woff2")) return "font/woff2";
  if (ends_with(path, ".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// A trusted proxy entry: an exact address or a CIDR block.
struct Network {
  asio::ip::address_v6 addr;  // v4 mapped to v6
  unsigned prefix = 128;
};

asio::ip::address_v6 to_v6(const asio::ip::address& a) {
  return a.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()) : a.to_v6();
}

std::optional<Network> parse_network(std::string_view s) {
  boost::system::error_code ec;
  auto slash = s.find('/');
  auto addr = asio::ip::make_address(std::string(trim(s.substr(0, slash))), ec);
  if (ec) return std::nullopt;
  Network n;
  n.addr = to_v6(addr);
  n.prefix = 128;
  if (slash != std::string_view::npos) {
    int p = 0;
    try {
      p = std::stoi(std::string(s.substr(slash + 1)));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (addr.is_v4()) p += 96;
    if (p < 0 || p > 128) return std::nullopt;
    n.prefix = static_cast<unsigned>(p);
  }
  return n;
}

bool in_network(const Network& n, const asio::ip::address_v6& a) {
  auto x = n.addr.to_bytes(), y = a.to_bytes();
  unsigned bits = n.prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
    unsigned take = bits >= 8 ? 8 : bits;
    unsigned char mask = static_cast<unsigned char>(0xFF << (8 - take));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::string escape_label(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view metric_method(std::string_view m) {
  static constexpr std::array<std::string_view, 7> known = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (auto k : known)
    if (k == m) return k;
  return "OTHER";
}

// ---------------------------------------------------------------------------------------
// Metrics: one entry per route template, created once; the hot path takes a shared lock to
// find it, then updates atomics (histogram) and a tiny per-route mutex (method x status).

constexpr std::array<double, 13> kBuckets = {.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5};

struct RouteStats {
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // last = +Inf only
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_ns{0};
  std::mutex mu;
  struct Count {
    std::string_view method;
    int status;
    uint64_t n;
  };
  std::vector<Count> counts;
};

class Metrics {
 public:
  void record(std::string_view route, std::string_view method, int status, std::chrono::nanoseconds elapsed) {
    RouteStats& s = stats_for(route);
    double secs = std::chrono::duration<double>(elapsed).count();
    std::size_t b = 0;
    while (b < kBuckets.size() && secs > kBuckets[b]) ++b;
    s.buckets[b].fetch_add(1, std::memory_order_relaxed);
    s.count.fetch_add(1, std::memory_order_relaxed);
    s.sum_ns.fetch_add(static_cast<uint64_t>(elapsed.count()), std::memory_order_relaxed);
    std::string_view m = metric_method(method);
    std::lock_guard lk(s.mu);
    for (auto& c : s.counts)
      if (c.status == status && c.method == m) {
        ++c.n;
        return;
      }
    s.counts.push_back({m, status, 1});
  }

  std::string text(int64_t in_flight, int64_t connections) const {
    std::string out;
    out.reserve(4096);
    std::vector<std::pair<std::string, RouteStats*>> all;
    {
      std::shared_lock lk(mu_);
      for (const auto& [k, v] : routes_) all.emplace_back(k, v.get());
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out += "# HELP taskhub_http_requests_total HTTP requests by method, route template and status.\n";
    out += "# TYPE taskhub_http_requests_total counter\n";
    for (auto& [route, s] : all) {
      std::vector<RouteStats::Count> counts;
      {
        std::lock_guard lk(s->mu);
        counts = s->counts;
      }
      std::string r = escape_label(route);
      for (const auto& c : counts)
        out += "taskhub_http_requests_total{method=\"" + std::string(c.method) + "\",route=\"" + r + "\",status=\"" +
               std::to_string(c.status) + "\"} " + std::to_string(c.n) + "\n";
    }
    out += "# HELP taskhub_http_request_duration_seconds HTTP request latency by route template.\n";
    out += "# TYPE taskhub_http_request_duration_seconds histogram\n";
    for (auto& [route, s] : all) {
      std::string r = escape_label(route);
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += s->buckets[i].load(std::memory_order_relaxed);
        out += "taskhub_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"" + format_le(kBuckets[i]) +
               "\"} " + std::to_string(cumulative) + "\n";
      }
      cumulative += s->buckets[kBuckets.size()].load(std::memory_order_relaxed);
      out += "taskhub_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"+Inf\"} " +
             std::to_string(cumulative) + "\n";
      char sum[64];
      std::snprintf(sum, sizeof sum, "%.9g", static_cast<double>(s->sum_ns.load(std::memory_order_relaxed)) / 1e9);
      out += "taskhub_http_request_duration_seconds_sum{route=\"" + r + "\"} " + sum + "\n";
      out += "taskhub_http_request_duration_seconds_count{route=\"" + r + "\"} " +
             std::to_string(s->count.load(std::memory_order_relaxed)) + "\n";
    }
    out += "# HELP taskhub_http_requests_in_flight HTTP requests being processed.\n";
    out += "# TYPE taskhub_http_requests_in_flight gauge\n";
    out += "taskhub_http_requests_in_flight " + std::to_string(in_flight) + "\n";
    out += "# HELP taskhub_http_connections Open HTTP connections.\n";
    out += "# TYPE taskhub_http_connections gauge\n";
    out += "taskhub_http_connections " + std::to_string(connections) + "\n";
    return out;
  }

 private:
  static std::string format_le(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  RouteStats& stats_for(std::string_view route) {
    {
      std::shared_lock lk(mu_);
      auto it = routes_.find(route);
      if (it != routes_.end()) return *it->second;
    }
    std::unique_lock lk(mu_);
    auto& slot = routes_[std::string(route)];
    if (!slot) slot = std::make_unique<RouteStats>();
    return *slot;
  }

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<RouteStats>, Hash, std::equal_to<>> routes_;
};

// Runs fn() on the pool and resumes the awaiting coroutine on its own executor (strand)
// with the result. The work guard keeps the io_context running meanwhile (during shutdown
// the acceptor is gone and an in-flight handler may be the only work left).
// Not a coroutine itself (GCC 12 mishandles lambda temporaries inside co_await expressions).
template <class T, class F>
asio::awaitable<T> run_on_pool(asio::thread_pool& pool, F fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(T)>(
      [&pool](auto handler, F f) mutable {
        auto ex = asio::get_associated_executor(handler);
        auto work = asio::make_work_guard(ex);
        asio::post(pool, [f = std::move(f), handler = std::move(handler), work = std::move(work)]() mutable {
          static thread_local const bool named = (set_thread_name("http-handler"), true);
          (void)named;
          T result = f();
          auto ex2 = work.get_executor();
          asio::post(ex2, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
          work.reset();
        });
      },
      asio::use_awaitable, std::move(fn));
}

// Per-connection state shared with the shutdown code (which runs on the connection's strand).
struct ConnState {
  beast::tcp_stream* stream = nullptr;  // valid while open (touched only on the strand)
  bool idle = true;                     // waiting for the next request: may be closed at shutdown
  bool open = true;
  std::function<void()> stop_stream;    // set while the connection is a WebSocket / SSE stream
};

// The send side of a WebSocket or SSE stream: the bounded SendQueue, filled from any thread,
// drained by the connection's writer coroutine on its strand, which is woken through on_wake.
class StreamConn final : public StreamConnection, public std::enable_shared_from_this<StreamConn> {
 public:
  StreamConn(asio::any_io_executor ex, StreamLimits lim)
      : ex_(std::move(ex)), q_(lim.max_queue_messages, lim.max_queue_bytes) {}

  bool send(std::shared_ptr<const std::string> text) override {
    auto r = q_.push(std::move(text));
    if (r == SendQueue::Push::closed) return false;
    if (r == SendQueue::Push::overflow) spdlog::info("stream: send queue full, closing a slow consumer");
    notify();
    return r == SendQueue::Push::queued;
  }
  void close(uint16_t code, std::string reason) override {
    if (q_.request_close(code, std::move(reason))) notify();
  }
  bool is_open() const override { return !q_.closing(); }

  SendQueue::Next next() { return q_.next(); }
  bool closing() const { return q_.closing(); }
  void mark_closed() { q_.mark_closed(); }
  std::function<void()> on_wake;  // strand only: wakes the writer

 private:
  void notify() {
    if (wake_pending_.exchange(true)) return;
    asio::post(ex_, [self = shared_from_this()] {
      self->wake_pending_.store(false);
      if (self->on_wake) self->on_wake();
    });
  }

  asio::any_io_executor ex_;
  SendQueue q_;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace

// =========================================================================================

struct Server::Impl {
  ServerOptions opt;
  Router& router;
  Authenticator authenticator;
  std::shared_ptr<IdempotencyStore> idempotency;
  std::vector<Network> trusted;
  bool cors_any = false;
  std::shared_ptr<spdlog::logger> access_log;

  Metrics metrics;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> connections{0};

  std::mutex mu;  // guards the fields below and conns
  std::condition_variable cv;
  bool started = false;
  bool stop_requested = false;
  bool finished = false;
  std::atomic<bool> stopping{false};
  std::list<std::pair<asio::any_io_executor, std::shared_ptr<ConnState>>> conns;

  std::unique_ptr<asio::thread_pool> pool;        // GET, HEAD, OPTIONS and post_blocking work
  std::unique_ptr<asio::thread_pool> write_pool;  // every other method (default_write_threads)
  std::vector<std::thread> io_threads;
  unsigned short bound_port = 0;
  // Declared last: destroyed first, together with any coroutine frames still queued in it,
  // while the members above are still alive.
  asio::io_context ioc;
  // The acceptor and the signal set live on one strand (accept loop, shutdown, signals).
  std::optional<asio::strand<asio::io_context::executor_type>> accept_strand;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;

  Impl(ServerOptions o, Router& r)
      : opt(std::move(o)),
        router(r),
        ioc(opt.io_threads > 0 ? opt.io_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
    for (const auto& p : opt.trusted_proxies) {
      if (auto n = parse_network(p))
        trusted.push_back(*n);
      else
        spdlog::warn("ignoring invalid trusted proxy '{}'", p);
    }
    for (const auto& o2 : opt.cors_origins)
      if (o2 == "*") cors_any = true;
  }

  // ---- lifecycle

  void request_stop() {
    {
      std::lock_guard lk(mu);
      if (stop_requested || !started) {
        stop_requested = true;
        cv.notify_all();
        return;
      }
      stop_requested = true;
    }
    stopping.store(true);
    asio::post(*accept_strand, [this] {
      boost::system::error_code ec;
      if (acceptor) acceptor->close(ec);
      if (signals) signals->cancel(ec);
    });
    close_connections(/*force=*/false);
    cv.notify_all();
  }

  void close_connections(bool force) {
    std::lock_guard lk(mu);
    for (auto& [ex, st] : conns) {
      asio::post(ex, [st = st, force] {
        if (st->open && st->stop_stream) {
          // Streams never become idle: ask them to close (clients reconnect and resume).
          st->stop_stream();
          if (!force) return;
        }
        if (st->open && st->stream && (force || st->idle)) {
          boost::system::error_code ec;
          st->stream->socket().shutdown(tcp::socket::shutdown_both, ec);
          st->stream->socket().close(ec);
        }
      });
    }
  }

  void wait() {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return stop_requested; });
      if (finished || !started) return;
    }
    auto deadline = Clock::now() + opt.shutdown_grace;
    {
      std::unique_lock lk(mu);
      cv.wait_until(lk, deadline, [&] { return conns.empty(); });
    }
    if (!conns_empty()) {
      spdlog::warn("shutdown grace period over: closing {} connection(s)", connections.load());
      close_connections(/*force=*/true);
      std::unique_lock lk(mu);
      cv.wait_for(lk, std::chrono::seconds(1), [&] { return conns.empty(); });
    }
    ioc.stop();
    for (auto& t : io_threads)
      if (t.joinable()) t.join();
    io_threads.clear();
    pool->join();
    if (write_pool) write_pool->join();
    std::lock_guard lk(mu);
    finished = true;
  }

  bool conns_empty() {
    std::lock_guard lk(mu);
    return conns.empty();
  }

  // ---- accept loop

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor->async_accept(asio::make_strand(ioc), kTok);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open() || stopping.load()) co_return;
        // EMFILE and friends: back off a little instead of spinning.
        spdlog::warn("accept failed: {}", ec.message());
        asio::steady_timer t(ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(kTok);
        continue;
      }
      if (stopping.load()) co_return;
      if (static_cast<std::size_t>(connections.load(std::memory_order_relaxed)) >= opt.max_connections) {
        asio::co_spawn(sock.get_executor(), reject_busy(std::move(sock)), asio::detached);
        continue;
      }
      auto ex = sock.get_executor();
      asio::co_spawn(ex, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> reject_busy(tcp::socket sock) {
    static const std::string kBusy = [] {
      std::string body =
          "{\"type\":\"urn:taskhub:problem:unavailable\",\"title\":\"Service Unavailable\",\"status\":503,"
          "\"detail\":\"Too many connections.\"}";
      return "HTTP/1.1 503 Service Unavailable\r\nServer: taskhub\r\nContent-Type: application/problem+json\r\n"
             "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    beast::tcp_stream stream(std::move(sock));
    stream.expires_after(std::chrono::seconds(1));
    co_await asio::async_write(stream, asio::buffer(kBusy.data(), kBusy.size()), kTok);
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  // ---- one connection

  struct ConnGuard {
    Impl& s;
    std::list<std::pair<asio::any_io_executor, std::shared_ptr<ConnState>>>::iterator it;
    std::shared_ptr<ConnState> st;
    ConnGuard(Impl& server, asio::any_io_executor ex, beast::tcp_stream* stream) : s(server) {
      st = std::make_shared<ConnState>();
      st->stream = stream;
      s.connections.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lk(s.mu);
      it = s.conns.emplace(s.conns.end(), std::move(ex), st);
    }
    ~ConnGuard() {
      st->open = false;
      st->stream = nullptr;
      s.connections.fetch_sub(1, std::memory_order_relaxed);
      std::lock_guard lk(s.mu);
      s.conns.erase(it);
      if (s.stop_requested) s.cv.notify_all();
    }
  };

  struct Peer {
    std::string text;  // peer IP as text
    bool trusted = false;  // in trusted_proxies: X-Forwarded-For is believed
  };

  Peer peer_of(const tcp::socket& sock) const {
    Peer p;
    boost::system::error_code ec;
    auto ep = sock.remote_endpoint(ec);
    if (ec) return p;
    auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    p.text = addr.to_string();
    if (!trusted.empty()) {
      auto v6 = to_v6(addr);
      p.trusted = std::any_of(trusted.begin(), trusted.end(), [&](const Network& n) { return in_network(n, v6); });
    }
    return p;
  }

  // The client address: the peer, or the last X-Forwarded-For hop when the peer is a trusted proxy.
  static std::string client_address(const Peer& peer, const bhttp::fields* fields) {
    if (peer.trusted && fields) {
      auto it = fields->find("X-Forwarded-For");
      if (it != fields->end()) {
        std::string_view xff(it->value().data(), it->value().size());
        auto comma = xff.rfind(',');
        std::string_view last = trim(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
        boost::system::error_code ec;
        auto a = asio::ip::make_address(std::string(last), ec);
        if (!ec) return a.to_string();
      }
    }
    return peer.text;
  }

  // Writes a response. Returns false when the connection must be closed.
  template <class Body>
  asio::awaitable<bool> write_message(beast::tcp_stream& stream, bhttp::response<Body>& res) {
    stream.expires_after(opt.write_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream, res, kTok);
    (void)n;
    co_return !ec;
  }

  struct Outcome {
    Response res;
    std::size_t bytes_out = 0;
  };

  asio::awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    auto ex = stream.get_executor();
    // Moves to a stream session when the connection becomes a WebSocket or SSE stream.
    auto guard = std::make_unique<ConnGuard>(*this, ex, &stream);
    const Peer peer = peer_of(stream.socket());
    auto& st = *guard->st;
    beast::flat_buffer buffer;
    bool first = true;
    bool linger = false;  // answered an error and closing while request bytes may be pending
    auto accepted_at = Clock::now();
    try {
      for (;;) {
        if (stopping.load()) break;
        // 1. Wait for the first byte of a request (idle), unless one is already buffered.
        st.idle = true;
        Clock::time_point head_deadline;
        if (buffer.size() == 0) {
          stream.expires_after(first ? opt.header_timeout : opt.idle_timeout);
          auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTok);
          if (ec) break;
          buffer.commit(n);
          head_deadline = (first ? accepted_at : Clock::now()) + opt.header_timeout;
        } else {
          head_deadline = Clock::now() + opt.header_timeout;
        }
        st.idle = false;
        first = false;

        // 2. The head, with one deadline for all of it (a byte-a-second client is dropped).
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opt.max_header_bytes, UINT32_MAX)));
        parser.body_limit(boost::none);  // checked below, once the route is known
        stream.expires_at(head_deadline);
        auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, kTok);
        (void)hn;
        auto started_at = Clock::now();
        if (hec) {
          if (hec == bhttp::error::header_limit) {
            co_await write_early_error(stream, 431, "header-too-large", "The request head is too large.", "",
                                       started_at);
            linger = true;
          } else if (hec == beast::error::timeout || hec == bhttp::error::end_of_stream ||
                     hec == asio::error::eof || hec == asio::error::operation_aborted ||
                     hec == asio::error::connection_reset) {
            // Dropped: nothing useful to answer.
          } else {
            co_await write_early_error(stream, 400, "bad-request", "The request could not be parsed.", "", started_at);
            linger = true;
          }
          break;
        }
        if (!co_await handle_request(stream, buffer, parser, peer, started_at, linger, guard)) break;
      }
    } catch (const std::exception& e) {
      spdlog::error("connection error: {}", e.what());
    }
    if (!guard) co_return;  // handed over to a stream session, socket and all
    boost::system::error_code ec;
    if (linger && stream.socket().is_open()) {
      // Lingering close: stop sending, then drain what the client still sends for a moment,
      // so the kernel does not reset the connection before the client read our answer.
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream.expires_after(std::chrono::milliseconds(500));
      // On the heap: a local array would sit in this coroutine's frame for the whole life of
      // every connection, WebSocket ones included (8 KiB each).
      std::vector<char> junk(8192);
      std::size_t total = 0;
      while (total < (1u << 20)) {
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(junk), kTok);
        if (rec) break;
        total += n;
      }
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
  }

  // A problem answered before there is a Request (then the connection closes).
  asio::awaitable<void> write_early_error(beast::tcp_stream& stream, int status, std::string_view code,
                                          std::string_view detail, std::string_view path, Clock::time_point t0) {
    std::string rid = new_uuid_v7();
    Response r = problem_response(status, code, detail, rid, {}, path);
    Request req;
    req.request_id = rid;
    req.method = "-";
    req.path = std::string(path);
    req.remote_addr = peer_of(stream.socket()).text;
    finish_headers(req, r);
    bhttp::response<bhttp::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(status));
    for (const auto& [k, v] : r.headers.items()) res.insert(k, v);
    res.body() = std::move(r.body);
    res.keep_alive(false);
    res.prepare_payload();
    co_await write_message(stream, res);
    record(req, status, t0, res.body().size());
  }

  // Reads the body, runs the request, writes the answer. Returns false to close.
  asio::awaitable<bool> handle_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       bhttp::request_parser<bhttp::string_body>& parser, const Peer& peer,
                                       Clock::time_point t0, bool& linger, std::unique_ptr<ConnGuard>& guard) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    struct InFlight {
      std::atomic<int64_t>& n;
      bool counted = true;
      void release() {
        if (counted) n.fetch_sub(1, std::memory_order_relaxed);
        counted = false;
      }
      ~InFlight() { release(); }
    } in_flight_guard{in_flight};

    auto& head = parser.get();
    SpoolFile spool;  // declared before the response: removed after it is written
    Request req;
    req.method = std::string(head.method_string());
    req.target = std::string(head.target());
    req.remote_addr = client_address(peer, &head.base());
    {
      auto it = head.find("X-Request-Id");
      std::string_view incoming = it != head.end() ? std::string_view(it->value().data(), it->value().size()) : "";
      req.request_id = valid_request_id(incoming) ? std::string(incoming) : new_uuid_v7();
    }
    bool keep_alive = head.keep_alive();

    // Target -> path + query.
    std::optional<Response> early;
    bool close_after = false;
    if (req.target.size() > kMaxTarget) {
      early = problem_response(414, "uri-too-long", "The request target is too long.", req.request_id, {}, "");
      close_after = true;
    } else {
      std::string_view t = req.target;
      auto q = t.find('?');
      std::string_view raw_path = t.substr(0, q);
      if (q != std::string_view::npos) req.query = std::string(t.substr(q + 1));
      auto hash = req.query.find('#');
      if (hash != std::string::npos) req.query.resize(hash);
      if (raw_path.empty() || raw_path.front() != '/' || !decode_path(raw_path, req.path)) {
        req.path.clear();
        early = problem_response(400, "bad-request", "The request path is invalid.", req.request_id, {}, "");
        close_after = true;
      }
    }

    RouteMatch match;
    if (!early) {
      match = router.match(req.method, req.path);
      if (match.route) req.route = match.route->path_template;  // for logs and metrics, even on 413
      std::size_t limit = match.route ? match.route->options.max_body : router.max_body_for(req.method, req.path);
      auto len = parser.content_length();
      if (len && *len > limit) {
        early = problem_response(413, "body-too-large",
                                 "The request body is larger than " + std::to_string(limit) + " bytes.",
                                 req.request_id, {}, req.path);
        close_after = true;  // the body was not read
      } else if (!parser.is_done()) {
        // 100-continue: tell the client to send the body we are willing to read.
        auto expect = head.find(bhttp::field::expect);
        if (expect != head.end() && beast::iequals(expect->value(), "100-continue")) {
          bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
          cont.set(bhttp::field::server, "taskhub");
          if (!co_await write_message(stream, cont)) co_return false;
        }
        const std::string* spool_dir = match.route && !match.route->options.spool_dir.empty()
                                           ? &match.route->options.spool_dir
                                           : nullptr;
        beast::error_code bec;
        if (spool_dir) {
          // Stream the body to a temp file as it arrives (the string parser would hold it all).
          // The converted parser takes the head over; it is copied back for what follows.
          std::error_code dec;
          std::filesystem::create_directories(*spool_dir, dec);
          bhttp::request_parser<bhttp::file_body> fparser(std::move(parser));
          fparser.body_limit(static_cast<std::uint64_t>(limit));
          std::string path = *spool_dir + "/upload-" + new_uuid_v7() + ".part";
          fparser.get().body().open(path.c_str(), beast::file_mode::write_new, bec);
          if (bec) {
            spdlog::error("cannot create the spool file {}: {}", path, bec.message());
            head.base() = fparser.get().base();
            early = problem_response(500, "internal", "An internal error occurred.", req.request_id, {}, req.path);
            close_after = true;
          } else {
            spool.path = path;
            // Beast reads at most the buffer's free capacity at a time (a few KiB after the
            // head): 256 KiB reads and file writes move large bodies ~3x faster. Given back after.
            buffer.reserve(std::min<std::size_t>(limit, 256 * 1024));
            stream.expires_after(opt.body_timeout);
            auto [fec, fn] = co_await bhttp::async_read(stream, buffer, fparser, kTok);
            (void)fn;
            buffer.shrink_to_fit();
            bec = fec;
            fparser.get().body().close();
            head.base() = fparser.get().base();
            if (!bec) req.body_file = path;
          }
        } else {
          parser.body_limit(static_cast<std::uint64_t>(limit));
          stream.expires_after(opt.body_timeout);
          auto [sec, sn] = co_await bhttp::async_read(stream, buffer, parser, kTok);
          (void)sn;
          bec = sec;
        }
        if (early) {
          // the spool file could not be created
        } else if (bec == bhttp::error::body_limit) {
          early = problem_response(413, "body-too-large",
                                   "The request body is larger than " + std::to_string(limit) + " bytes.",
                                   req.request_id, {}, req.path);
          close_after = true;
        } else if (bec) {
          if (bec != beast::error::timeout && bec != asio::error::eof && bec != bhttp::error::end_of_stream &&
              bec != asio::error::operation_aborted && bec != asio::error::connection_reset) {
            early = problem_response(400, "bad-request", "The request body could not be read.", req.request_id, {},
                                     req.path);
            close_after = true;
          } else {
            co_return false;
          }
        }
      }
    }

    for (const auto& f : head) req.headers.add(std::string(f.name_string()), std::string(f.value()));
    if (!early) req.body = std::move(head.body());

    Response res;
    if (early) {
      res = std::move(*early);
    } else {
      res = co_await dispatch(req, match);
    }

    if (close_after) linger = true;
    if (res.stream && res.status < 300 && res.stream->handler) {
      in_flight_guard.release();  // a stream is a connection, not a request in progress
      if (res.stream->kind == StreamKind::sse || beast::websocket::is_upgrade(head)) {
        // (A WebSocket client must wait for the 101: nothing it sent is left in the buffer.)
        start_stream(stream, guard, head, req, res, t0);
        co_return false;
      }
      res = problem_response(426, "upgrade-required", "This resource needs a WebSocket upgrade.", req.request_id,
                             {}, req.path);
      res.headers.set("Upgrade", "websocket");
      res.headers.set("Connection", "Upgrade");
      keep_alive = false;
    }
    co_return co_await respond(stream, req, res, keep_alive && !close_after, head.version(), t0);
  }

  // ---- streams (WebSocket, SSE)
  //
  // Once a request turns into a stream, the request coroutines return: their frames, the
  // parser and the read buffer are freed, and the connection moves into a StreamSession
  // driven by callbacks on its strand (the Beast examples' style). An idle stream then costs
  // its socket, Beast's WebSocket state, the send queue and this object: about 7 KiB instead
  // of the 26 KiB it took inside the request coroutine (bench/run_realtime_bench.sh, 10k
  // idle connections).

  // A long-lived stream's kernel send buffer would otherwise auto-tune up to tcp_wmem's maximum
  // (4 MiB here) per connection: memory the per-connection send queue bound does not see, and
  // megabytes of events a stalled reader could sit on before the queue ever fills. 64 KiB keeps
  // both bounded; a reader that keeps up never notices.
  static void bound_kernel_send_buffer(tcp::socket& sock) {
    boost::system::error_code ec;
    sock.set_option(asio::socket_base::send_buffer_size(64 * 1024), ec);
    if (ec) spdlog::debug("stream: SO_SNDBUF not set: {}", ec.message());
  }

  // What WebSocket and SSE streams share: the send queue drained by pump(), the close deadline,
  // and the handler's life (on_open once; on_close exactly once, when both the reading and the
  // writing side are done). Every member is touched on the connection's strand only; pending
  // operations hold the session alive, so it is freed when the last one completes.
  class StreamSession : public std::enable_shared_from_this<StreamSession> {
   public:
    StreamSession(Impl& srv, std::unique_ptr<ConnGuard> guard, const StreamUpgrade& up, Request req,
                  Clock::time_point t0, const asio::any_io_executor& ex)
        : srv_(srv), guard_(std::move(guard)), handler_(up.handler), lim_(up.limits), req_(std::move(req)),
          t0_(t0), ex_(ex), kill_(ex) {}
    virtual ~StreamSession() = default;

   protected:
    virtual tcp::socket& socket() = 0;
    virtual void start_read() = 0;  // reads until the peer goes, then calls reader_done()
    virtual void write_message(const std::string& msg) = 0;  // then written(ec)
    virtual void write_close(uint16_t code, const std::string& reason) = 0;  // then end_writer()
    virtual void queue_empty() {}

    // The handshake is done (status recorded): the request is not needed any more.
    void open() {
      req_ = Request{};
      conn_ = std::make_shared<StreamConn>(ex_, lim_);
      std::weak_ptr<StreamSession> weak = shared_from_this();
      conn_->on_wake = [weak] {
        if (auto s = weak.lock()) s->pump();
      };
      guard_->st->stop_stream = [conn = conn_] { conn->close(kCloseGoingAway, "server shutting down"); };
      if (srv_.stopping.load()) conn_->close(kCloseGoingAway, "server shutting down");
      try {
        handler_->on_open(conn_);
      } catch (const std::exception& e) {
        spdlog::error("stream on_open failed: {}", e.what());
        conn_->close(1011, "internal error");
      }
      start_read();
      pump();
    }

    void pump() {
      if (writer_done_) return;
      // Closing (slow consumer, application close, shutdown, peer gone): from now on the
      // stream has write_timeout to finish, then the socket is closed whatever the peer does.
      if (conn_->closing()) arm_close_deadline();
      if (writing_) return;
      SendQueue::Next n = conn_->next();
      if (n.closed) {
        end_writer();
      } else if (n.msg) {
        writing_ = true;
        msg_ = std::move(n.msg);
        write_message(*msg_);
      } else if (n.closing) {
        writing_ = true;
        write_close(n.code, n.reason);
      } else {
        queue_empty();
      }
    }

    void written(const boost::system::error_code& ec) {
      writing_ = false;
      msg_.reset();
      if (ec)
        end_writer();
      else
        pump();
    }

    void end_writer() {
      if (writer_done_) return;
      writer_done_ = true;
      writing_ = false;
      conn_->mark_closed();
      // The reader may still wait for a peer that vanished (or a close handshake that failed).
      boost::system::error_code ignored;
      socket().cancel(ignored);
      maybe_finish();
    }

    void reader_done() {
      reader_done_ = true;
      if (conn_) {
        conn_->mark_closed();
        pump();
      }
      maybe_finish();
    }

    Impl& srv_;
    std::unique_ptr<ConnGuard> guard_;
    std::shared_ptr<StreamHandler> handler_;
    const StreamLimits lim_;
    Request req_;  // until the handshake is recorded
    Clock::time_point t0_;
    asio::any_io_executor ex_;
    std::shared_ptr<StreamConn> conn_;
    std::shared_ptr<const std::string> msg_;  // being written
    bool writing_ = false;
    bool writer_done_ = false;
    bool reader_done_ = false;

   private:
    void arm_close_deadline() {
      if (kill_armed_) return;
      kill_armed_ = true;
      kill_.expires_after(lim_.write_timeout);
      kill_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto s = weak.lock()) {
          boost::system::error_code ignored;
          s->socket().close(ignored);
        }
      });
    }

    void maybe_finish() {
      if (!reader_done_ || !writer_done_ || finished_ || !conn_) return;
      finished_ = true;
      kill_.cancel();
      conn_->on_wake = nullptr;
      guard_->st->stop_stream = nullptr;
      try {
        handler_->on_close();
      } catch (const std::exception& e) {
        spdlog::error("stream on_close failed: {}", e.what());
      }
    }

    asio::steady_timer kill_;
    bool kill_armed_ = false;
    bool finished_ = false;
  };

  class WebSocketSession final : public StreamSession {
   public:
    WebSocketSession(Impl& srv, std::unique_ptr<ConnGuard> guard, beast::tcp_stream&& stream,
                     bhttp::request<bhttp::string_body>&& head, const StreamUpgrade& up, Request req,
                     Clock::time_point t0)
        : StreamSession(srv, std::move(guard), up, std::move(req), t0, stream.get_executor()),
          ws_(std::move(stream)),
          head_(std::move(head)) {
      guard_->st->stream = &ws_.next_layer();
    }

    void start() {
      namespace websocket = beast::websocket;
      bound_kernel_send_buffer(socket());
      ws_.next_layer().expires_never();  // the websocket stream has its own timeouts
      websocket::stream_base::timeout to{};
      to.handshake_timeout = std::chrono::seconds(10);
      to.idle_timeout = 2 * lim_.ping_interval;  // beast pings after half of it without data
      to.keep_alive_pings = true;
      ws_.set_option(to);
      ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& r) {
        r.set(bhttp::field::server, "taskhub");
      }));
      ws_.read_message_max(lim_.max_message_bytes);
      ws_.async_accept(head_, [self = self()](const boost::system::error_code& ec) {
        self->srv_.record(self->req_, ec ? 400 : 101, self->t0_, 0);
        self->head_ = {};
        if (!ec) self->open();
      });
    }

   private:
    std::shared_ptr<WebSocketSession> self() { return std::static_pointer_cast<WebSocketSession>(shared_from_this()); }
    tcp::socket& socket() override { return ws_.next_layer().socket(); }

    // Waiting with async_read would keep a 1.5 KiB buffer prepared for every idle connection
    // (Beast prepares before the frame arrives): wait for a message's first byte, then read the rest.
    void start_read() override {
      ws_.async_read_some(rbuf_, 1, [self = self()](const boost::system::error_code& ec, std::size_t) {
        if (ec || self->ws_.is_message_done()) {
          self->on_read(ec);
          return;
        }
        self->ws_.async_read(self->rbuf_, [self](const boost::system::error_code& ec2, std::size_t) {
          self->on_read(ec2);
        });
      });
    }
    void on_read(const boost::system::error_code& ec) {
      if (ec) {
        reader_done();
        return;
      }
      if (!ws_.got_text()) {
        conn_->close(1003, "text messages only");
      } else if (!conn_->closing()) {  // while closing: drain until the close handshake completes
        try {
          handler_->on_message(beast::buffers_to_string(rbuf_.data()));
        } catch (const std::exception& e) {
          spdlog::error("websocket on_message failed: {}", e.what());
          conn_->close(1011, "internal error");
        }
      }
      rbuf_.consume(rbuf_.size());
      rbuf_.shrink_to_fit();  // a 64 KiB message must not pin 64 KiB for the connection's life
      start_read();
    }

    void write_message(const std::string& msg) override {
      ws_.text(true);
      ws_.async_write(asio::buffer(msg.data(), msg.size()),
                      [self = self()](const boost::system::error_code& ec, std::size_t) { self->written(ec); });
    }
    void write_close(uint16_t code, const std::string& reason) override {
      ws_.async_close(beast::websocket::close_reason(static_cast<beast::websocket::close_code>(code), reason),
                      [self = self()](const boost::system::error_code&) { self->end_writer(); });
    }

    beast::websocket::stream<beast::tcp_stream> ws_;
    bhttp::request<bhttp::string_body> head_;  // until the handshake is done
    beast::flat_buffer rbuf_;
  };

  class SseSession final : public StreamSession {
   public:
    SseSession(Impl& srv, std::unique_ptr<ConnGuard> guard, beast::tcp_stream&& stream, const StreamUpgrade& up,
               Request req, Clock::time_point t0)
        : StreamSession(srv, std::move(guard), up, std::move(req), t0, stream.get_executor()),
          stream_(std::move(stream)),
          heartbeat_(stream_.get_executor()) {
      guard_->st->stream = &stream_;
    }

    // head: the status line and headers. The body ends when the connection closes (no length,
    // no chunking): the simplest framing every HTTP/1.1 client reads.
    void start(std::string head, int status) {
      bound_kernel_send_buffer(socket());
      head_ = std::move(head);
      stream_.expires_after(srv_.opt.write_timeout);
      asio::async_write(stream_, asio::buffer(head_),
                        [self = self(), status](const boost::system::error_code& ec, std::size_t) {
                          self->srv_.record(self->req_, status, self->t0_, 0);
                          self->head_ = {};
                          if (!ec) self->open();
                        });
    }

   private:
    std::shared_ptr<SseSession> self() { return std::static_pointer_cast<SseSession>(shared_from_this()); }
    tcp::socket& socket() override { return stream_.socket(); }

    // The client sends nothing after the request; reading only notices that it went away.
    void start_read() override {
      socket().async_read_some(asio::buffer(junk_), [self = self()](const boost::system::error_code& ec, std::size_t) {
        if (ec) {
          self->heartbeat_.cancel();
          self->reader_done();
        } else {
          self->start_read();
        }
      });
    }

    void write_message(const std::string& msg) override {
      stream_.expires_after(srv_.opt.write_timeout);
      asio::async_write(stream_, asio::buffer(msg.data(), msg.size()),
                        [self = self()](const boost::system::error_code& ec, std::size_t) { self->written(ec); });
    }
    void write_close(uint16_t, const std::string&) override {
      heartbeat_.cancel();
      boost::system::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_both, ignored);
      end_writer();
    }

    // Nothing to send for a while: a comment keeps proxies and clients from timing out.
    void queue_empty() override {
      heartbeat_.expires_after(lim_.ping_interval);
      heartbeat_.async_wait([self = self()](const boost::system::error_code& ec) {
        if (ec || self->writing_ || self->writer_done_) return;
        static const std::string kHeartbeat = ": heartbeat\n\n";
        self->writing_ = true;
        self->write_message(kHeartbeat);
      });
    }

    beast::tcp_stream stream_;
    asio::steady_timer heartbeat_;
    std::string head_;  // until written
    std::array<char, 64> junk_;
  };

  // Hands the connection over to a stream session (the request coroutines return right after).
  void start_stream(beast::tcp_stream& stream, std::unique_ptr<ConnGuard>& guard,
                    bhttp::request<bhttp::string_body>& head, Request& req, Response& res, Clock::time_point t0) {
    const StreamUpgrade& up = *res.stream;
    if (up.kind == StreamKind::sse) {
      finish_headers(req, res);
      res.headers.set("Cache-Control", "no-store");
      res.headers.set("X-Accel-Buffering", "no");  // proxies must not buffer the stream
      if (!res.headers.has("Content-Type")) res.headers.set("Content-Type", "text/event-stream; charset=utf-8");
      std::string text = "HTTP/1.1 " + std::to_string(res.status) + " " +
                         std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(res.status))) + "\r\n";
      for (const auto& [k, v] : res.headers.items()) text += k + ": " + v + "\r\n";
      text += "Connection: close\r\n\r\n";
      auto s = std::make_shared<SseSession>(*this, std::move(guard), std::move(stream), up, std::move(req), t0);
      s->start(std::move(text), res.status);
    } else {
      auto s = std::make_shared<WebSocketSession>(*this, std::move(guard), std::move(stream), std::move(head), up,
                                                  std::move(req), t0);
      s->start();
    }
  }

  // Routing, CORS preflight, authentication and the handler.
  asio::awaitable<Response> dispatch(Request& req, const RouteMatch& match) {
    if (match.allowed.empty())
      co_return problem_response(404, "not-found", "No resource at this path.", req.request_id, {}, req.path);

    bool explicit_options = match.route && match.route->method == "OPTIONS";
    if (req.method == "OPTIONS" && (!explicit_options || req.headers.has("Access-Control-Request-Method"))) {
      Response r = Response::no_content();
      r.headers.set("Allow", join(match.allowed, ", "));
      std::string_view origin = req.header("Origin");
      if (!origin.empty() && req.headers.has("Access-Control-Request-Method") && origin_allowed(origin)) {
        r.headers.set("Access-Control-Allow-Methods", join(match.allowed, ", "));
        r.headers.set("Access-Control-Allow-Headers", kCorsAllowHeaders);
        r.headers.set("Access-Control-Max-Age", "600");
      }
      co_return r;
    }
    if (!match.route) {
      Response r = problem_response(405, "method-not-allowed", "This method is not allowed on this resource.",
                                    req.request_id, {}, req.path);
      r.headers.set("Allow", join(match.allowed, ", "));
      co_return r;
    }

    const Route& route = *match.route;
    req.route = route.path_template;
    req.path_params = match.params;

    std::string token;
    if (route.options.auth != Auth::none) {
      std::string_view authz = req.header("Authorization");
      if (authz.size() > 7 && beast::iequals(authz.substr(0, 7), "Bearer ")) token = std::string(trim(authz.substr(7)));
    }
    bool needs_auth_call = !token.empty() && authenticator;
    if (route.options.inline_handler && !needs_auth_call && route.options.auth != Auth::required) {
      co_return run_handler(route, req, token);
    }
    if (route.options.auth == Auth::required && token.empty()) {
      co_return run_handler(route, req, token);  // answers 401 without any blocking work
    }
    // One hop to the pool: authentication + handler in the same task. The task is a named
    // object, not a temporary inside the co_await expression (GCC 12 coroutine bugs).
    struct Task {
      Impl* self;
      const Route* route;
      Request* req;
      std::string token;
      Response operator()() { return self->run_handler(*route, *req, token); }
    };
    Task task{this, &route, &req, std::move(token)};
    const bool reads = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
    auto pending = run_on_pool<Response>(reads ? *pool : *write_pool, std::move(task));
    Response res = co_await std::move(pending);
    co_return res;
  }

  // Authentication middleware + idempotency + handler + error mapping. Never throws.
  Response run_handler(const Route& route, Request& req, const std::string& token) {
    return guarded(req, [&]() -> Response {
      if (route.options.auth != Auth::none) {
        if (!token.empty() && authenticator) req.principal = authenticator(token);
        if (!req.principal && route.options.auth == Auth::required) {
          throw taskhub::unauthorized(token.empty() ? "Authentication is required."
                                                    : "The access token is invalid or expired.");
        }
        if (req.principal && !req.principal->can_write && req.method != "GET" && req.method != "HEAD" &&
            req.method != "OPTIONS" && !route.options.read_scope_ok) {
          throw ApiError(403, "insufficient-scope", "This API token has read-only scope.");
        }
      }
      // Idempotency-Key: POST with an authenticated principal only. Public routes (login,
      // register, password reset) have no user to scope the key to, and an unauthenticated
      // caller must not be able to fill the store; they are not covered.
      if (idempotency && req.method == "POST" && req.principal && req.headers.has("Idempotency-Key"))
        return run_idempotent(route, req);
      return route.handler(req);
    });
  }

  // fn() with the error mapping: ApiError -> its problem, anything else -> logged 500.
  template <class F>
  Response guarded(Request& req, F&& fn) {
    try {
      return fn();
    } catch (const ApiError& e) {
      std::vector<std::pair<std::string, std::string>> errs;
      errs.reserve(e.errors().size());
      for (const auto& fe : e.errors()) errs.emplace_back(fe.field, fe.message);
      Response r = problem_response(e.status(), e.code(), e.detail(), req.request_id, errs, req.path);
      for (const auto& [k, v] : e.headers()) r.headers.set(k, v);
      if (e.status() == 401 && !r.headers.has("WWW-Authenticate")) r.headers.set("WWW-Authenticate", "Bearer");
      return r;
    } catch (const std::exception& e) {
      spdlog::error("request {} {} {} failed: {}", req.request_id, req.method, req.path, e.what());
    } catch (...) {
      spdlog::error("request {} {} {} failed with a non-standard exception", req.request_id, req.method, req.path);
    }
    return problem_response(500, "internal", "An internal error occurred.", req.request_id, {}, req.path);
  }

  static std::string sha256_hex(std::string_view data) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * sizeof digest);
    for (unsigned char c : digest) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    return out;
  }

  // A spooled body's digest, read in blocks (it may be far larger than memory allows).
  static std::string sha256_file_hex(const std::string& path) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot read the spooled body " + path);
    std::array<unsigned char, 64 * 1024> buf;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        throw std::runtime_error("cannot read the spooled body " + path);
      }
      if (n == 0) break;
      crypto_hash_sha256_update(&st, buf.data(), static_cast<unsigned long long>(n));
    }
    ::close(fd);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, digest);
    return sha256_hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest)) + "-file";
  }

  // begin() -> replay / problem / run the handler and record its answer. Throws ApiError for
  // an invalid key, a mismatch or a request in progress; a store failure in begin() answers 500.
  Response run_idempotent(const Route& route, Request& req) {
    std::string key(req.header("Idempotency-Key"));
    if (!valid_idempotency_key(key))
      throw validation_error({{"Idempotency-Key", "must be 1 to 255 visible ASCII characters"}},
                             "The Idempotency-Key header is invalid.");
    std::shared_ptr<IdempotencyStore> store = idempotency;
    std::string user_id = req.principal->user_id;
    IdempotencyBegin b = store->begin(user_id, key, req.method, req.target,
                                      req.body_file.empty() ? sha256_hex(req.body) : sha256_file_hex(req.body_file));
    switch (b.kind) {
      case IdempotencyBegin::Kind::replay: {
        Response r;
        r.status = b.response.status;
        for (auto& [k, v] : b.response.headers) r.headers.set(k, v);
        r.body = std::move(b.response.body);
        r.headers.set("Idempotent-Replayed", "true");
        return r;
      }
      case IdempotencyBegin::Kind::mismatch:
        throw ApiError(422, "idempotency-key-reused",
                       "This Idempotency-Key was already used with another request (method, path or body).");
      case IdempotencyBegin::Kind::in_progress:
        throw ApiError(409, "idempotency-key-in-progress",
                       "A request with this Idempotency-Key is still being processed; retry later.")
            .with_header("Retry-After", "1");
      case IdempotencyBegin::Kind::proceed:
        break;
    }
    Response r = guarded(req, [&]() -> Response { return route.handler(req); });
    try {
      if (r.status < 500 && r.file_path.empty()) {
        StoredResponse stored;
        stored.status = r.status;
        for (const char* name : kIdempotencyStoredHeaders)
          if (r.headers.has(name)) stored.headers.emplace_back(name, std::string(r.headers.get(name)));
        stored.body = r.body;
        store->complete(user_id, key, stored);
      } else {
        store->abandon(user_id, key);
      }
    } catch (const std::exception& e) {
      // The handler's effect stands; the reservation stays pending and is taken over after
      // its lease (see the store). Answer what the handler answered.
      spdlog::error("request {}: recording the Idempotency-Key answer failed: {}", req.request_id, e.what());
    }
    return r;
  }

  bool origin_allowed(std::string_view origin) const {
    if (cors_any) return true;
    for (const auto& o : opt.cors_origins)
      if (o == origin) return true;
    return false;
  }

  // Security, CORS and id headers on every answer.
  void finish_headers(const Request& req, Response& r) const {
    auto& h = r.headers;
    h.set("Server", "taskhub");
    h.set("X-Request-Id", req.request_id);
    h.set("X-Content-Type-Options", "nosniff");
    h.set("Referrer-Policy", "no-referrer");
    h.set("X-Frame-Options", "DENY");
    if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", kDefaultCsp);
    if (!h.has("Cache-Control") && req.path.rfind("/api/", 0) == 0 && r.file_path.empty()) {
      std::string_view ct = h.get("Content-Type");
      if (ct.find("json") != std::string_view::npos || ct.empty()) h.set("Cache-Control", "no-store");
    }
    std::string_view origin = req.header("Origin");
    if (!origin.empty() && origin_allowed(origin)) {
      if (cors_any) {
        h.set("Access-Control-Allow-Origin", "*");
      } else {
        h.set("Access-Control-Allow-Origin", std::string(origin));
        h.add("Vary", "Origin");
        if (opt.cors_allow_credentials) h.set("Access-Control-Allow-Credentials", "true");
      }
      if (!req.headers.has("Access-Control-Request-Method")) h.set("Access-Control-Expose-Headers", kCorsExposeHeaders);
    }
  }

  // Problem bodies built by handlers may lack instance: add it (error path only).
  static void complete_problem(const Request& req, Response& r) {
    if (r.headers.get("Content-Type").rfind("application/problem+json", 0) != 0) return;
    if ((req.path.empty() || r.body.find("\"instance\"") != std::string::npos) &&
        r.body.find("\"request_id\"") != std::string::npos)
      return;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) return;
    auto& o = v.as_object();
    if (!o.contains("instance") && !req.path.empty()) o["instance"] = req.path;
    if (!o.contains("request_id")) o["request_id"] = req.request_id;
    r.body = boost::json::serialize(o);
  }

  asio::awaitable<bool> respond(beast::tcp_stream& stream, Request& req, Response& r, bool keep_alive,
                                unsigned version, Clock::time_point t0) {
    if (r.status >= 400) complete_problem(req, r);
    finish_headers(req, r);
    bool head_only = req.method == "HEAD";
    bool stopping_now = stopping.load();
    keep_alive = keep_alive && !stopping_now;
    std::size_t bytes = 0;
    bool ok = true;

    auto fill = [&](auto& res) {
      res.version(version == 10 ? 10 : 11);  // HTTP/1.0 clients get "Connection: keep-alive"
      res.result(static_cast<unsigned>(r.status));
      for (const auto& [k, v] : r.headers.items()) res.insert(k, v);
      res.keep_alive(keep_alive);
    };

    if (!r.file_path.empty()) {
      bhttp::file_body::value_type file;
      beast::error_code ec;
      file.open(r.file_path.c_str(), beast::file_mode::scan, ec);
      if (ec) {
        Response nf = problem_response(404, "not-found", "No resource at this path.", req.request_id, {}, req.path);
        finish_headers(req, nf);
        r = std::move(nf);
      } else {
        if (!r.headers.has("Content-Type")) r.headers.set("Content-Type", content_type_for(r.file_path));
        std::uint64_t size = file.size();
        r.headers.set("Accept-Ranges", "bytes");
        ByteRange range;
        if (r.status == 200 && (req.method == "GET" || head_only) && req.headers.has("Range"))
          range = parse_byte_range(req.header("Range"), size);
        if (range.kind == ByteRange::Kind::unsatisfiable) {
          Response bad = problem_response(416, "range-not-satisfiable",
                                          "The requested range is outside the file (" + std::to_string(size) +
                                              " bytes).",
                                          req.request_id, {}, req.path);
          bad.headers.set("Content-Range", "bytes */" + std::to_string(size));
          bad.headers.set("Accept-Ranges", "bytes");
          finish_headers(req, bad);
          r = std::move(bad);  // written below as an ordinary answer
        } else {
          // The head, then the bytes (the whole file or the range) in 256 KiB blocks read at an
          // offset: file_body would send only whole files, 4 KiB per read.
          std::uint64_t first = 0, len = size;
          if (range.kind == ByteRange::Kind::part) {
            first = range.first;
            len = range.last - range.first + 1;
            r.status = 206;
            r.headers.set("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                               std::to_string(range.last) + "/" + std::to_string(size));
          }
          bhttp::response<bhttp::empty_body> res;
          fill(res);
          res.content_length(len);
          ok = co_await write_message(stream, res);
          int fd = file.file().native_handle();
          std::vector<char> block(static_cast<std::size_t>(std::min<std::uint64_t>(len, 256 * 1024)));
          std::uint64_t off = first, left = head_only ? 0 : len;
          while (ok && left > 0) {
            ssize_t n = ::pread(fd, block.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size())),
                                static_cast<off_t>(off));
            if (n <= 0) {
              ok = false;  // the file shrank under us: close, the client sees a short body
              break;
            }
            stream.expires_after(opt.write_timeout);
            auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(block.data(), static_cast<std::size_t>(n)),
                                                        kTok);
            (void)wn;
            if (wec) ok = false;
            off += static_cast<std::uint64_t>(n);
            left -= static_cast<std::uint64_t>(n);
            bytes += static_cast<std::size_t>(n);
          }
        }
        if (r.status != 416) {
          record(req, r.status, t0, bytes);
          co_return ok && keep_alive;
        }
      }
    }

    if (head_only || r.status == 204 || r.status == 304) {
      bhttp::response<bhttp::empty_body> res;
      fill(res);
      if (r.status != 204 && r.status != 304) res.content_length(r.body.size());
      ok = co_await write_message(stream, res);
    } else {
      bytes = r.body.size();
      const std::string head = response_head(r.status, version, r.headers, keep_alive, r.body.size());
      const std::array<asio::const_buffer, 2> parts{asio::buffer(head), asio::buffer(r.body)};
      stream.expires_after(opt.write_timeout);
      auto [ec, n] = co_await asio::async_write(stream, parts, kTok);
      (void)n;
      ok = !ec;
    }
    record(req, r.status, t0, bytes);
    co_return ok && keep_alive;
  }

  void record(const Request& req, int status, Clock::time_point t0, std::size_t bytes_out) {
    auto elapsed = Clock::now() - t0;
    const std::string_view route = req.route.empty() ? std::string_view("unmatched") : std::string_view(req.route);
    metrics.record(route, req.method, status, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed));
    if (access_log && access_log->should_log(spdlog::level::info)) {
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      // Strings go through boost::json for correct escaping; the duration is formatted by
      // hand so it reads 0.081 rather than 8.1E-2.
      std::string line;
      line.reserve(320);
      auto field = [&](const char* key, std::string_view v) {
        line += line.empty() ? "{\"" : ",\"";
        line += key;
        line += "\":";
        line += boost::json::serialize(boost::json::string_view(v.data(), v.size()));
      };
      field("time", format_rfc3339_ms(now_ms));
      field("method", req.method);
      field("route", route);
      field("path", req.path);
      char num[64];
      std::snprintf(num, sizeof num, ",\"status\":%d,\"duration_ms\":%.3f", status,
                    std::chrono::duration<double, std::milli>(elapsed).count());
      line += num;
      field("request_id", req.request_id);
      if (req.principal)
        field("user_id", req.principal->user_id);
      else
        line += ",\"user_id\":null";
      field("remote", req.remote_addr);
      line += ",\"bytes_out\":" + std::to_string(bytes_out) + "}";
      access_log->info(line);
    }
  }
};

// =========================================================================================

Server::Server(ServerOptions options, Router& router) : impl_(std::make_unique<Impl>(std::move(options), router)) {}

Server::~Server() {
  if (!impl_) return;
  bool started;
  {
    std::lock_guard lk(impl_->mu);
    started = impl_->started && !impl_->finished;
  }
  if (started) {
    impl_->request_stop();
    impl_->wait();
  } else if (impl_->pool) {
    impl_->pool->join();
  }
  if (impl_->write_pool) impl_->write_pool->join();
}

void Server::set_authenticator(Authenticator auth) { impl_->authenticator = std::move(auth); }

void Server::set_idempotency_store(std::shared_ptr<IdempotencyStore> store) {
  impl_->idempotency = std::move(store);
}

int default_blocking_threads() {
  return static_cast<int>(std::max(4u, 2 * std::max(1u, std::thread::hardware_concurrency())));
}

int default_write_threads(bool group_commit) {
  if (!group_commit) return 16;  // PostgreSQL: writes wait on the network and the WAL flush
  return 64;                     // waiting writes are what a group commit groups: see server.hpp
}

void Server::start() {
  auto& s = *impl_;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  int io_n = s.opt.io_threads > 0 ? s.opt.io_threads : static_cast<int>(cores);
  int pool_n = s.opt.blocking_threads > 0 ? s.opt.blocking_threads : default_blocking_threads();
  s.access_log = spdlog::get("access");

  auto addr = asio::ip::make_address(s.opt.bind_address);
  tcp::endpoint ep(addr, s.opt.port);
  s.accept_strand.emplace(asio::make_strand(s.ioc));
  s.acceptor.emplace(*s.accept_strand);
  s.acceptor->open(ep.protocol());
  s.acceptor->set_option(asio::socket_base::reuse_address(true));
  s.acceptor->bind(ep);
  s.acceptor->listen(asio::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();

  if (!s.pool) s.pool = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(pool_n));
  const int write_n = s.opt.write_threads > 0 ? s.opt.write_threads : default_write_threads(true);
  if (!s.write_pool) s.write_pool = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(write_n));
  s.signals.emplace(*s.accept_strand, SIGINT, SIGTERM);
  s.signals->async_wait([&s](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} received: shutting down", sig);
    s.request_stop();
  });
  {
    std::lock_guard lk(s.mu);
    s.started = true;
  }
  asio::co_spawn(*s.accept_strand, s.accept_loop(), asio::detached);
  s.io_threads.reserve(static_cast<std::size_t>(io_n));
  for (int i = 0; i < io_n; ++i) {
    s.io_threads.emplace_back([&s] {
      set_thread_name("http-io");
      for (;;) {
        try {
          s.ioc.run();
          break;
        } catch (const std::exception& e) {
          spdlog::error("I/O thread: unhandled exception: {}", e.what());
        }
      }
    });
  }
}

unsigned short Server::port() const { return impl_->bound_port; }

void Server::wait() { impl_->wait(); }

void Server::stop() { impl_->request_stop(); }

void Server::post_blocking(std::function<void()> fn) {
  if (!impl_->pool) {
    int pool_n = impl_->opt.blocking_threads > 0 ? impl_->opt.blocking_threads : default_blocking_threads();
    impl_->pool = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(pool_n));
  }
  asio::post(*impl_->pool, [fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("background task failed: {}", e.what());
    }
  });
}

std::string Server::metrics_text() const {
  return impl_->metrics.text(impl_->in_flight.load(std::memory_order_relaxed),
                             impl_->connections.load(std::memory_order_relaxed));
}

}  // namespace taskhub::http
