// Baseline for the HTTP benchmarks: the smallest reasonable Boost.Beast HTTP/1.1 keep-alive
// server (C++20 coroutines, N I/O threads) answering every request with a fixed ~200-byte
// JSON object, like a user object. taskhub's throughput is reported as a ratio to this.
//
// Usage: minimal_beast_server [ADDRESS] PORT [THREADS]
//   e.g. minimal_beast_server 127.0.0.1 8080 2   (defaults: 127.0.0.1, 8080, cores)
// Links taskhub_lib for the separately compiled Asio/Beast (src/http/asio_impl.cpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

const std::string kBody =
    R"({"id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d0e","email":"bench-user@example.com",)"
    R"("display_name":"Bench User","timezone":"UTC","is_admin":false,"is_active":true,)"
    R"("created_at":"2026-11-26T04:02:41.123Z","updated_at":"2026-11-26T04:02:41.123Z"})";

asio::awaitable<void> session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(60));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTok);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "minimal");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = kBody;
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTok);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), kTok);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, session(std::move(socket)), asio::detached);
  }
}

bool looks_like_address(std::string_view s) { return s.find('.') != s.npos || s.find(':') != s.npos; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string address = "127.0.0.1";
  if (!args.empty() && looks_like_address(args[0])) {
    address = args[0];
    args.erase(args.begin());
  }
  unsigned short port = args.size() > 0 ? static_cast<unsigned short>(std::atoi(args[0].c_str())) : 8080;
  int threads = args.size() > 1 ? std::atoi(args[1].c_str()) : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;

  asio::io_context ioc(threads);
  tcp::endpoint ep(asio::ip::make_address(address), port);
  tcp::acceptor acceptor(ioc);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(ioc, listen(acceptor), asio::detached);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) { ioc.stop(); });

  std::printf("minimal_beast_server listening on %s:%u with %d thread(s)\n", address.c_str(),
              acceptor.local_endpoint().port(), threads);
  std::fflush(stdout);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
