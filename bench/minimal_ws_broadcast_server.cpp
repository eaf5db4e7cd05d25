// Baseline for the realtime benchmarks (issue 4): the smallest reasonable Boost.Beast WebSocket
// broadcast server, in the style of the Beast 1.81 chat examples (websocket_chat_multi) but with
// C++20 coroutines. Clients connect with a WebSocket upgrade on any path and just read; a plain
// HTTP `POST /publish` (keep-alive) sends its body (or a small fixed JSON object when empty) as
// one text frame to every connected client and answers 200. One shared buffer per message, one
// bounded send queue per client (1024 messages, like taskhub's WS_SEND_QUEUE_MAX; beyond that
// the message is dropped for that client), N I/O threads. No auth, no channels, no persistence.
//
// Usage: minimal_ws_broadcast_server [ADDRESS] PORT [THREADS]   (defaults: 127.0.0.1, 8080, cores)
// Links taskhub_lib for the separately compiled Asio/Beast (src/http/asio_impl.cpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kQueueMax = 1024;
const std::string kDefaultMessage = R"({"type":"task.created","payload":{"title":"hello"}})";

class WsSession;

// All connected WebSocket sessions (like shared_state in the Beast chat example).
struct SharedState {
  std::mutex mu;
  std::unordered_set<WsSession*> sessions;
  void broadcast(std::shared_ptr<const std::string> msg);
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(websocket::stream<beast::tcp_stream> ws, SharedState& state) : ws_(std::move(ws)), state_(state) {}

  asio::awaitable<void> run(http::request<http::string_body> req) {
    auto self = shared_from_this();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.text(true);
    auto [ec] = co_await ws_.async_accept(req, kTok);
    if (ec) co_return;
    {
      std::lock_guard lk(state_.mu);
      state_.sessions.insert(this);
    }
    beast::flat_buffer buf;
    for (;;) {  // read and discard until the peer goes away
      auto [rec, n] = co_await ws_.async_read(buf, kTok);
      if (rec) break;
      buf.clear();
    }
    std::lock_guard lk(state_.mu);
    state_.sessions.erase(this);
  }

  // Thread-safe: hops onto the session's strand.
  void send(std::shared_ptr<const std::string> msg) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), msg = std::move(msg)]() mutable {
      if (self->queue_.size() >= kQueueMax) return;
      self->queue_.push_back(std::move(msg));
      if (self->queue_.size() == 1) self->write_next();
    });
  }

 private:
  void write_next() {
    ws_.async_write(asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->queue_.clear();
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write_next();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  SharedState& state_;
  std::deque<std::shared_ptr<const std::string>> queue_;
};

void SharedState::broadcast(std::shared_ptr<const std::string> msg) {
  // Like the chat example: take strong references under the lock, send outside it.
  std::vector<std::weak_ptr<WsSession>> targets;
  {
    std::lock_guard lk(mu);
    targets.reserve(sessions.size());
    for (auto* s : sessions) targets.push_back(s->weak_from_this());
  }
  for (auto& w : targets)
    if (auto s = w.lock()) s->send(msg);
}

asio::awaitable<void> http_session(tcp::socket socket, SharedState& state) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(60));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTok);
    if (ec) break;
    if (websocket::is_upgrade(req)) {
      stream.expires_never();
      auto s = std::make_shared<WsSession>(websocket::stream<beast::tcp_stream>(std::move(stream)), state);
      co_await s->run(std::move(req));
      co_return;
    }
    http::response<http::string_body> res{http::status::ok, req.version()};
    if (req.method() == http::verb::post && req.target() == "/publish") {
      state.broadcast(std::make_shared<const std::string>(req.body().empty() ? kDefaultMessage : req.body()));
      res.body() = R"({"ok":true})";
    } else {
      res.result(http::status::not_found);
      res.body() = R"({"error":"not found"})";
    }
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTok);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, SharedState& state) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), kTok);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, http_session(std::move(socket), state), asio::detached);
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
  SharedState state;
  tcp::endpoint ep(asio::ip::make_address(address), port);
  tcp::acceptor acceptor(ioc);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(ioc, listen(acceptor, state), asio::detached);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) { ioc.stop(); });

  std::printf("minimal_ws_broadcast_server listening on %s:%u with %d thread(s)\n", address.c_str(),
              acceptor.local_endpoint().port(), threads);
  std::fflush(stdout);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
