// Realtime fan-out load client: N WebSocket clients subscribe to one project; tasks are then
// created one at a time (spaced, so at most one event is in flight) and every client records
// the time from the start of the POST to the arrival of its task.created event. Reports
// delivery latency p50/p99/max and delivered messages per second.
//
// Usage: realtime_fanout HOST PORT TOKEN PROJECT_ID [CLIENTS=100] [TASKS=50] [GAP_MS=50]
// Links taskhub_lib for the separately compiled Asio/Beast (src/http/asio_impl.cpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
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

std::atomic<int64_t> g_post_started_ns{0};  // steady clock of the POST in flight
std::atomic<int> g_ready{0};
std::atomic<uint64_t> g_received{0};
std::mutex g_mu;
std::vector<double> g_latencies_ms;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

asio::awaitable<void> client(tcp::endpoint ep, std::string host, std::string token, std::string project) {
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  auto [cec] = co_await beast::get_lowest_layer(ws).async_connect(ep, kTok);
  if (cec) {
    std::fprintf(stderr, "connect: %s\n", cec.message().c_str());
    co_return;
  }
  beast::get_lowest_layer(ws).expires_never();
  auto [hec] = co_await ws.async_handshake(host, "/api/v1/ws", kTok);
  if (hec) {
    std::fprintf(stderr, "handshake: %s\n", hec.message().c_str());
    co_return;
  }
  std::string auth = R"({"type":"auth","token":")" + token + R"("})";
  std::string sub = R"({"type":"subscribe","channel":"project:)" + project + R"("})";
  co_await ws.async_write(asio::buffer(auth), kTok);
  co_await ws.async_write(asio::buffer(sub), kTok);
  beast::flat_buffer buf;
  for (;;) {
    buf.clear();
    auto [ec, n] = co_await ws.async_read(buf, kTok);
    if (ec) co_return;
    std::string msg = beast::buffers_to_string(buf.data());
    if (msg.find(R"("type":"subscribed")") != std::string::npos) {
      ++g_ready;
    } else if (msg.find(R"("type":"task.created")") != std::string::npos) {
      double ms = static_cast<double>(now_ns() - g_post_started_ns.load()) / 1e6;
      ++g_received;
      std::lock_guard lk(g_mu);
      g_latencies_ms.push_back(ms);
    }
  }
}

bool post_task(const tcp::endpoint& ep, const std::string& host, const std::string& token,
               const std::string& project, int i) {
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  beast::error_code ec;
  s.connect(ep, ec);
  if (ec) return false;
  http::request<http::string_body> req{http::verb::post, "/api/v1/projects/" + project + "/tasks", 11};
  req.set(http::field::host, host);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/json");
  req.body() = R"({"title":"bench )" + std::to_string(i) + R"("})";
  req.prepare_payload();
  http::write(s, req, ec);
  if (ec) return false;
  beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res, ec);
  return !ec && res.result_int() == 201;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s HOST PORT TOKEN PROJECT_ID [CLIENTS] [TASKS] [GAP_MS]\n", argv[0]);
    return 2;
  }
  std::string host = argv[1], token = argv[3], project = argv[4];
  auto port = static_cast<unsigned short>(std::atoi(argv[2]));
  int clients = argc > 5 ? std::atoi(argv[5]) : 100;
  int tasks = argc > 6 ? std::atoi(argv[6]) : 50;
  int gap_ms = argc > 7 ? std::atoi(argv[7]) : 50;
  tcp::endpoint ep(asio::ip::make_address(host), port);

  asio::io_context ioc;
  for (int i = 0; i < clients; ++i) asio::co_spawn(ioc, client(ep, host, token, project), asio::detached);
  std::thread io([&] { ioc.run(); });

  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (g_ready.load() < clients && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (g_ready.load() < clients) {
    std::fprintf(stderr, "only %d of %d clients subscribed\n", g_ready.load(), clients);
    ioc.stop();
    io.join();
    return 1;
  }
  auto t0 = Clock::now();
  int ok = 0;
  for (int i = 0; i < tasks; ++i) {
    g_post_started_ns.store(now_ns());
    if (post_task(ep, host, token, project, i)) ++ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ioc.stop();
  io.join();

  std::lock_guard lk(g_mu);
  uint64_t expected = static_cast<uint64_t>(clients) * static_cast<uint64_t>(ok);
  std::printf("clients %d, tasks %d, delivered %llu of %llu\n", clients, ok,
              static_cast<unsigned long long>(g_received.load()), static_cast<unsigned long long>(expected));
  std::printf("POST-to-delivery latency ms: p50 %.2f  p99 %.2f  max %.2f\n", pct(g_latencies_ms, 0.5),
              pct(g_latencies_ms, 0.99), pct(g_latencies_ms, 1.0));
  std::printf("delivered messages/s (paced by GAP_MS): %.0f\n", static_cast<double>(g_received.load()) / secs);
  return g_received.load() == expected ? 0 : 1;
}
