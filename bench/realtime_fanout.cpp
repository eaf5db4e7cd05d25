// Realtime fan-out load client (issue 4), for taskhub and for the baseline
// (bench/minimal_ws_broadcast_server.cpp), driven by bench/run_realtime_bench.sh.
//
// N WebSocket clients connect (taskhub: `auth` then `subscribe` to `project:<id>`, ready on
// `subscribed`; baseline: ready once the handshake is done). Connections are opened with at most
// 256 handshakes in flight, on one I/O thread, with small buffers (client memory stays small).
// Then, by mode:
//   latency: events are published one at a time, GAP_MS apart (so at most one is in flight):
//            taskhub: POST /api/v1/projects/<id>/tasks; baseline: POST /publish with a JSON body
//            of about the same size. Each client records the time from right before the publish
//            request was written to the arrival of its `task.created` message. Reports latency
//            p50/p99/max, the fan-out rate (subscribers / time until the last subscriber got the
//            event, median over events) and delivered messages per second over the whole run.
//            The first event (cold path) is included; its last-subscriber time is also printed as
//            `first_event`.
//   hold:    prints `ready N` once all N are ready, then keeps them open (reading and counting
//            whatever arrives) until SIGINT/SIGTERM, then prints `received M closed C` and exits.
//            Used for the memory figure (idle connections) and for the throughput-with-subscribers
//            figure.
//
// Usage: realtime_fanout MODE TARGET HOST PORT CLIENTS [EVENTS=50] [GAP_MS=50]
//   MODE latency|hold; TARGET taskhub|baseline. For taskhub, env BENCH_TOKEN and BENCH_PROJECT.
// Links taskhub_lib for the separately compiled Asio/Beast (src/http/asio_impl.cpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr int kMaxInFlight = 256;

struct Config {
  bool taskhub = true;
  std::string host, token, project;
  tcp::endpoint ep;
};

std::atomic<int64_t> g_publish_ns{0};  // steady clock right before the publish in flight
std::atomic<int> g_event{-1};          // index of the event in flight
std::atomic<int> g_ready{0};
std::atomic<int> g_failed{0};
std::atomic<int> g_closed{0};
std::atomic<uint64_t> g_received{0};
std::atomic<bool> g_stop{false};
std::mutex g_mu;
std::vector<double> g_latencies_ms;
std::vector<double> g_last_ms;  // per event: latency of the last subscriber

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

asio::awaitable<void> client(const Config& cfg) {
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  auto [cec] = co_await beast::get_lowest_layer(ws).async_connect(cfg.ep, kTok);
  if (cec) {
    if (++g_failed <= 5) std::fprintf(stderr, "connect: %s\n", cec.message().c_str());
    co_return;
  }
  beast::get_lowest_layer(ws).expires_never();
  ws.auto_fragment(false);
  ws.read_message_max(1 << 20);
  auto [hec] = co_await ws.async_handshake(cfg.host, cfg.taskhub ? "/api/v1/ws" : "/", kTok);
  if (hec) {
    if (++g_failed <= 5) std::fprintf(stderr, "handshake: %s\n", hec.message().c_str());
    co_return;
  }
  if (cfg.taskhub) {
    std::string auth = R"({"type":"auth","token":")" + cfg.token + R"("})";
    std::string sub = R"({"type":"subscribe","channel":"project:)" + cfg.project + R"("})";
    co_await ws.async_write(asio::buffer(auth), kTok);
    co_await ws.async_write(asio::buffer(sub), kTok);
  } else {
    ++g_ready;
  }
  beast::flat_buffer buf;
  for (;;) {
    buf.clear();
    buf.shrink_to_fit();  // idle connections keep no buffer
    auto [ec, n] = co_await ws.async_read(buf, kTok);
    if (ec) {
      if (!g_stop.load()) {
        if (++g_closed <= 5)
          std::fprintf(stderr, "connection closed: %s (close code %d)\n", ec.message().c_str(),
                       static_cast<int>(ws.reason().code));
      }
      co_return;
    }
    int64_t t = now_ns();
    auto d = buf.data();
    std::string_view msg(static_cast<const char*>(d.data()), d.size());
    if (msg.find(R"("type":"task.created")") != std::string_view::npos) {
      ++g_received;
      int ev = g_event.load();
      if (ev >= 0) {
        double ms = static_cast<double>(t - g_publish_ns.load()) / 1e6;
        std::lock_guard lk(g_mu);
        g_latencies_ms.push_back(ms);
        if (static_cast<std::size_t>(ev) < g_last_ms.size()) g_last_ms[ev] = std::max(g_last_ms[ev], ms);
      }
    } else if (msg.find(R"("type":"subscribed")") != std::string_view::npos) {
      ++g_ready;
    }
  }
}

// Opens the clients with a bounded number of handshakes in flight.
asio::awaitable<void> spawner(const Config& cfg, int clients) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (int i = 0; i < clients; ++i) {
    while (i - g_ready.load() - g_failed.load() >= kMaxInFlight) {
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(kTok);
    }
    asio::co_spawn(ex, client(cfg), asio::detached);
  }
}

// One publish over a keep-alive connection; true on the expected status.
bool publish(beast::tcp_stream& s, const Config& cfg, int i) {
  http::request<http::string_body> req;
  req.method(http::verb::post);
  req.version(11);
  req.set(http::field::host, cfg.host);
  req.set(http::field::content_type, "application/json");
  if (cfg.taskhub) {
    req.target("/api/v1/projects/" + cfg.project + "/tasks");
    req.set(http::field::authorization, "Bearer " + cfg.token);
    req.body() = R"({"title":"bench )" + std::to_string(i) + R"("})";
  } else {
    // About the size of a taskhub task.created event.
    req.target("/publish");
    req.body() = R"({"id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d0e","type":"task.created","seq":)" + std::to_string(i) +
                 R"(,"time":"2026-11-26T04:02:41.123Z","actor_id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d0f",)"
                 R"("workspace_id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d10","project_id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d11",)"
                 R"("task_id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d12","user_id":null,"entity_type":"task",)"
                 R"("entity_id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d12","schema_version":1,"payload":{"title":"bench )" +
                 std::to_string(i) + R"(","state":"todo","priority":"none","number":1}})";
  }
  req.keep_alive(true);
  req.prepare_payload();
  beast::error_code ec;
  g_publish_ns.store(now_ns());
  http::write(s, req, ec);
  if (ec) return false;
  beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res, ec);
  return !ec && res.result_int() == (cfg.taskhub ? 201 : 200);
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s latency|hold taskhub|baseline HOST PORT CLIENTS [EVENTS] [GAP_MS]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  Config cfg;
  cfg.taskhub = std::string_view(argv[2]) == "taskhub";
  cfg.host = argv[3];
  auto port = static_cast<unsigned short>(std::atoi(argv[4]));
  int clients = std::atoi(argv[5]);
  int events = argc > 6 ? std::atoi(argv[6]) : 50;
  int gap_ms = argc > 7 ? std::atoi(argv[7]) : 50;
  if (cfg.taskhub) {
    const char* t = std::getenv("BENCH_TOKEN");
    const char* p = std::getenv("BENCH_PROJECT");
    if (!t || !p) {
      std::fprintf(stderr, "taskhub target needs BENCH_TOKEN and BENCH_PROJECT\n");
      return 2;
    }
    cfg.token = t;
    cfg.project = p;
  }
  cfg.ep = tcp::endpoint(asio::ip::make_address(cfg.host), port);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  asio::io_context ioc(1);
  auto work = asio::make_work_guard(ioc);
  asio::co_spawn(ioc, spawner(cfg, clients), asio::detached);
  std::thread io([&] { ioc.run(); });
  auto finish = [&](int rc) {
    std::fflush(stdout);
    std::_Exit(rc);  // skip tearing down thousands of sockets one by one
  };

  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (g_ready.load() < clients && g_failed.load() == 0 && Clock::now() < deadline && !g_stop.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (g_ready.load() < clients) {
    std::fprintf(stderr, "only %d of %d clients ready (%d failed)\n", g_ready.load(), clients, g_failed.load());
    std::printf("ready %d (INCOMPLETE)\n", g_ready.load());
    finish(1);
  }

  if (mode == "hold") {
    std::printf("ready %d\n", clients);
    std::fflush(stdout);
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::printf("received %llu closed %d\n", static_cast<unsigned long long>(g_received.load()), g_closed.load());
    finish(0);
  }

  // latency mode
  {
    std::lock_guard lk(g_mu);
    g_latencies_ms.reserve(static_cast<std::size_t>(clients) * static_cast<std::size_t>(events));
    g_last_ms.assign(static_cast<std::size_t>(events), 0.0);
  }
  asio::io_context pioc;
  beast::tcp_stream s(pioc);
  beast::error_code ec;
  s.socket().connect(cfg.ep, ec);
  if (ec) {
    std::fprintf(stderr, "publisher connect: %s\n", ec.message().c_str());
    finish(1);
  }
  s.socket().set_option(tcp::no_delay(true));
  auto t0 = Clock::now();
  int ok = 0;
  for (int i = 0; i < events; ++i) {
    g_event.store(i);
    if (publish(s, cfg, i)) ++ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  // Wait for the stragglers (at most 5 s).
  uint64_t expected = static_cast<uint64_t>(clients) * static_cast<uint64_t>(ok);
  auto until = Clock::now() + std::chrono::seconds(5);
  while (g_received.load() < expected && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::lock_guard lk(g_mu);
  std::vector<double> rates;
  for (double last : g_last_ms)
    if (last > 0) rates.push_back(static_cast<double>(clients) / (last / 1000.0));
  std::printf("clients %d events %d delivered %llu expected %llu closed %d\n", clients, ok,
              static_cast<unsigned long long>(g_received.load()), static_cast<unsigned long long>(expected),
              g_closed.load());
  std::printf("latency_ms p50 %.2f p99 %.2f max %.2f\n", pct(g_latencies_ms, 0.5), pct(g_latencies_ms, 0.99),
              pct(g_latencies_ms, 1.0));
  std::printf("last_subscriber_ms p50 %.2f p99 %.2f first_event %.2f\n", pct(g_last_ms, 0.5), pct(g_last_ms, 0.99),
              g_last_ms.empty() ? 0.0 : g_last_ms[0]);
  std::printf("fanout_msgs_per_s %.0f\n", pct(rates, 0.5));
  std::printf("paced_msgs_per_s %.0f\n", static_cast<double>(g_received.load()) / secs);
  finish(g_received.load() == expected ? 0 : 1);
}
