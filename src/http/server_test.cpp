// Server tests over real sockets with a tiny blocking client (POSIX sockets: no Beast here,
// so this file compiles fast).
#include "http/server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "core/error.hpp"

using namespace taskhub;
using namespace taskhub::http;
using namespace std::chrono_literals;

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int connect_to(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
  boost::json::object json() const { return boost::json::parse(body).as_object(); }
};

// Reads one response; `buf` keeps bytes of the next one (keep-alive).
std::optional<Reply> read_reply(int fd, std::string& buf, bool head = false) {
  auto fill = [&]() {
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) return std::nullopt;
  Reply r;
  std::string head_text = buf.substr(0, end);
  buf.erase(0, end + 4);
  std::size_t pos = head_text.find("\r\n");
  std::string status_line = head_text.substr(0, pos);
  r.status = std::atoi(status_line.c_str() + 9);
  while (pos != std::string::npos) {
    std::size_t next = head_text.find("\r\n", pos + 2);
    std::string line = head_text.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (r.headers.count(name))
      r.headers[name] += ", " + value;
    else
      r.headers[name] = value;
  }
  std::size_t len = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  if (head || r.status == 204 || r.status == 304 || r.status < 200) len = 0;
  while (buf.size() < len)
    if (!fill()) return std::nullopt;
  r.body = buf.substr(0, len);
  buf.erase(0, len);
  return r;
}

// True when the peer closes the connection within `within`.
bool closed_within(int fd, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);
    if (n <= 0) return true;
  }
  return false;
}

std::optional<Reply> request(unsigned short port, const std::string& raw, bool head = false) {
  Fd c(connect_to(port));
  if (c.fd < 0) return std::nullopt;
  if (!send_all(c.fd, raw)) return std::nullopt;
  std::string buf;
  return read_reply(c.fd, buf, head);
}

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router.add("GET", "/hello", [](Request&) { return Response::json(200, boost::json::object{{"hi", "there"}}); },
               {.auth = Auth::none, .inline_handler = true});
    router.add("POST", "/hello", [](Request& r) { return Response::text(201, r.body); }, {.auth = Auth::none});
    router.add("GET", "/api/v1/items/{id}", [](Request& r) {
      return Response::json(200, boost::json::object{{"id", r.param("id")}, {"q", r.query_param("q").value_or("")}});
    }, {.auth = Auth::none});
    router.add("GET", "/api/v1/boom", [](Request&) -> Response {
      throw ApiError(409, "thing-conflict", "It conflicts.", {{"name", "taken"}});
    }, {.auth = Auth::none});
    router.add("GET", "/api/v1/limited", [](Request&) -> Response { throw too_many_requests(7); }, {.auth = Auth::none});
    router.add("GET", "/api/v1/crash", [](Request&) -> Response {
      throw std::runtime_error("SELECT secret FROM passwords");
    }, {.auth = Auth::none});
    router.add("GET", "/api/v1/slow", [](Request&) {
      std::this_thread::sleep_for(400ms);
      return Response::text(200, "slow done");
    }, {.auth = Auth::none});
    router.add("GET", "/api/v1/me", [](Request& r) {
      return Response::json(200, boost::json::object{{"user", r.user().user_id}});
    });
    router.add("POST", "/api/v1/me/things", [](Request&) { return Response::no_content(); });
    router.add("POST", "/api/v1/me/search", [](Request&) { return Response::no_content(); },
               {.read_scope_ok = true});
    router.add("GET", "/maybe", [](Request& r) {
      return Response::text(200, r.principal ? r.principal->user_id : "anonymous");
    }, {.auth = Auth::optional, .inline_handler = true});
    router.add("GET", "/remote", [](Request& r) { return Response::text(200, r.remote_addr); },
               {.auth = Auth::none, .inline_handler = true});
    router.add("GET", "/headers", [](Request&) {
      Response r = Response::text(200, "ok");
      r.headers.set("X-Fine", "yes");
      r.headers.set("X-Split", "a\r\nSet-Cookie: stolen=1");  // would end the head early
      r.headers.set("Content-Length", "999");                   // framing is the server's
      return r;
    }, {.auth = Auth::none});
    router.add("GET", "/file", [this](Request&) {
      Response r;
      r.file_path = file_path;
      return r;
    }, {.auth = Auth::none});
  }

  void start(ServerOptions opt = {}) {
    opt.bind_address = "127.0.0.1";
    opt.port = 0;
    opt.io_threads = 2;
    if (opt.blocking_threads == 0) opt.blocking_threads = 2;
    if (opt.cors_origins.empty()) opt.cors_origins = {"https://app.example"};
    server = std::make_unique<Server>(opt, router);
    server->set_authenticator([](std::string_view token) -> std::optional<Principal> {
      if (token == "good") return Principal{.user_id = "u1", .is_admin = false, .can_write = true,
                                            .kind = CredentialKind::access_token, .session_id = "s", .token_id = "t"};
      if (token == "readonly")
        return Principal{.user_id = "u2", .is_admin = false, .can_write = false, .kind = CredentialKind::api_token,
                         .session_id = "", .token_id = "k"};
      return std::nullopt;
    });
    server->start();
    port = server->port();
  }

  void TearDown() override { server.reset(); }

  Router router;
  std::unique_ptr<Server> server;
  unsigned short port = 0;
  std::string file_path;
};

}  // namespace

TEST_F(ServerTest, KeepAliveTwoRequestsOnOneConnection) {
  start();
  Fd c(connect_to(port));
  ASSERT_GE(c.fd, 0);
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, get("/hello")));
  auto r1 = read_reply(c.fd, buf);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, R"({"hi":"there"})");
  EXPECT_EQ(r1->header("server"), "taskhub");
  EXPECT_EQ(r1->header("x-content-type-options"), "nosniff");
  EXPECT_EQ(r1->header("x-frame-options"), "DENY");
  EXPECT_EQ(r1->header("referrer-policy"), "no-referrer");
  EXPECT_EQ(r1->header("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
  ASSERT_TRUE(send_all(c.fd, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"));
  auto r2 = read_reply(c.fd, buf);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 201);
  EXPECT_EQ(r2->body, "abcde");
  // Pipelined: two requests in one write.
  ASSERT_TRUE(send_all(c.fd, get("/hello") + get("/api/v1/items/7?q=a+b")));
  auto r3 = read_reply(c.fd, buf);
  auto r4 = read_reply(c.fd, buf);
  ASSERT_TRUE(r3 && r4);
  EXPECT_EQ(r3->status, 200);
  EXPECT_EQ(r4->json().at("q").as_string(), "a b");
  EXPECT_EQ(r4->header("cache-control"), "no-store");
}

TEST_F(ServerTest, HeadersThatWouldSplitTheAnswerAreDroppedAndFramingIsTheServers) {
  start();
  Fd c(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, get("/headers") + get("/hello")));
  auto r = read_reply(c.fd, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->header("x-fine"), "yes");
  EXPECT_EQ(r->header("x-split"), "");
  EXPECT_EQ(r->header("set-cookie"), "");
  EXPECT_EQ(r->header("content-length"), "2");
  // The connection is still in step: the next answer parses.
  auto next = read_reply(c.fd, buf);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, R"({"hi":"there"})");
}

TEST_F(ServerTest, Http10KeepsAliveOnlyWhenAsked) {
  start();
  {
    Fd c(connect_to(port));
    std::string buf;
    ASSERT_TRUE(send_all(c.fd, "GET /api/v1/items/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = read_reply(c.fd, buf);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    ASSERT_TRUE(send_all(c.fd, "GET /api/v1/items/2 HTTP/1.0\r\n\r\n"));
    auto r2 = read_reply(c.fd, buf);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->json().at("id").as_string(), "2");
    EXPECT_EQ(r2->header("connection"), "");  // HTTP/1.0 without keep-alive: closed after
    EXPECT_TRUE(closed_within(c.fd, 1000ms));
  }
  Fd c(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, get("/api/v1/items/3", "Connection: close\r\n")));
  auto r = read_reply(c.fd, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(closed_within(c.fd, 1000ms));
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  start();
  auto r = request(port, get("/nope"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("content-type"), "application/problem+json");
  auto j = r->json();
  EXPECT_EQ(j.at("type").as_string(), "urn:taskhub:problem:not-found");
  EXPECT_EQ(j.at("title").as_string(), "Not Found");
  EXPECT_EQ(j.at("status").as_int64(), 404);
  EXPECT_EQ(j.at("instance").as_string(), "/nope");
  EXPECT_EQ(j.at("request_id").as_string(), r->header("x-request-id"));
  EXPECT_FALSE(j.contains("errors"));

  r = request(port, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "GET, HEAD, OPTIONS, POST");
}

TEST_F(ServerTest, HeadKeepsContentLength) {
  start();
  Fd c(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = read_reply(c.fd, buf, /*head=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "14");
  EXPECT_TRUE(r->body.empty());
  ASSERT_TRUE(send_all(c.fd, get("/hello")));  // connection still in sync
  r = read_reply(c.fd, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, R"({"hi":"there"})");
}

TEST_F(ServerTest, OptionsAndCors) {
  start();
  auto r = request(port, "OPTIONS /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->header("allow"), "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(r->header("access-control-allow-origin"), "");

  r = request(port,
              "OPTIONS /hello HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
              "Access-Control-Request-Method: POST\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->header("access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(r->header("access-control-allow-credentials"), "true");
  EXPECT_EQ(r->header("access-control-allow-methods"), "GET, HEAD, OPTIONS, POST");
  EXPECT_NE(r->header("access-control-allow-headers").find("Idempotency-Key"), std::string::npos);
  EXPECT_EQ(r->header("access-control-max-age"), "600");
  EXPECT_EQ(r->header("vary"), "Origin");

  r = request(port, get("/hello", "Origin: https://evil.example\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("access-control-allow-origin"), "");
  r = request(port, get("/hello", "Origin: https://app.example\r\n"));
  EXPECT_EQ(r->header("access-control-allow-origin"), "https://app.example");
}

TEST_F(ServerTest, CorsWildcardNeverSendsCredentials) {
  ServerOptions o;
  o.cors_origins = {"*"};
  start(o);
  auto r = request(port, get("/hello", "Origin: https://any.example\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("access-control-allow-origin"), "*");
  EXPECT_EQ(r->header("access-control-allow-credentials"), "");
}

TEST_F(ServerTest, BodyTooLargeByContentLength) {
  start();
  auto r = request(port, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->json().at("type").as_string(), "urn:taskhub:problem:body-too-large");
}

TEST_F(ServerTest, ChunkedBodyTooLarge) {
  start();
  std::string chunk(600 * 1024, 'x');
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  std::string raw = "POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + chunk +
                    "\r\n" + size + chunk + "\r\n0\r\n\r\n";
  auto r = request(port, raw);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ServerTest, HugeHeaderIs431) {
  ServerOptions o;
  o.max_header_bytes = 4096;
  start(o);
  auto r = request(port, get("/hello", "X-Big: " + std::string(8000, 'a') + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->header("content-type"), "application/problem+json");
  EXPECT_FALSE(r->json().at("request_id").as_string().empty());
}

TEST_F(ServerTest, LongTargetIs414AndBadPathIs400) {
  ServerOptions o;
  o.max_header_bytes = 64 * 1024;
  start(o);
  auto r = request(port, get("/" + std::string(9000, 'a')));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  r = request(port, get("/api/v1/items/a%00b"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = request(port, get("/api/v1/items/a%zzb"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = request(port, get("/api/v1/items/a%20b"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->json().at("id").as_string(), "a b");
}

TEST_F(ServerTest, RequestIdEchoedOrGenerated) {
  start();
  auto r = request(port, get("/nope", "X-Request-Id: my-req.1_A\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-request-id"), "my-req.1_A");
  EXPECT_EQ(r->json().at("request_id").as_string(), "my-req.1_A");
  r = request(port, get("/hello", "X-Request-Id: bad id!\r\n"));
  ASSERT_TRUE(r);
  EXPECT_NE(r->header("x-request-id"), "bad id!");
  EXPECT_EQ(r->header("x-request-id").size(), 36u);
  r = request(port, get("/hello", "X-Request-Id: " + std::string(129, 'a') + "\r\n"));
  EXPECT_EQ(r->header("x-request-id").size(), 36u);
}

TEST_F(ServerTest, ErrorsMapToProblems) {
  start();
  auto r = request(port, get("/api/v1/boom"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  auto j = r->json();
  EXPECT_EQ(j.at("type").as_string(), "urn:taskhub:problem:thing-conflict");
  EXPECT_EQ(j.at("title").as_string(), "Conflict");
  EXPECT_EQ(j.at("detail").as_string(), "It conflicts.");
  EXPECT_EQ(j.at("instance").as_string(), "/api/v1/boom");
  ASSERT_EQ(j.at("errors").as_array().size(), 1u);
  EXPECT_EQ(j.at("errors").as_array()[0].at("field").as_string(), "name");

  r = request(port, get("/api/v1/limited"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->header("retry-after"), "7");

  r = request(port, get("/api/v1/crash"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
  EXPECT_EQ(r->body.find("SELECT"), std::string::npos);
  EXPECT_EQ(r->json().at("type").as_string(), "urn:taskhub:problem:internal");
}

TEST_F(ServerTest, Authentication) {
  start();
  auto r = request(port, get("/api/v1/me"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->header("www-authenticate"), "Bearer");
  r = request(port, get("/api/v1/me", "Authorization: Bearer wrong\r\n"));
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->header("www-authenticate"), "Bearer");
  r = request(port, get("/api/v1/me", "Authorization: Bearer good\r\n"));
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->json().at("user").as_string(), "u1");

  r = request(port, get("/maybe"));
  EXPECT_EQ(r->body, "anonymous");
  r = request(port, get("/maybe", "Authorization: Bearer good\r\n"));
  EXPECT_EQ(r->body, "u1");

  std::string post = "POST /api/v1/me/things HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nAuthorization: Bearer ";
  r = request(port, post + "readonly\r\n\r\n");
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->json().at("type").as_string(), "urn:taskhub:problem:insufficient-scope");
  r = request(port, post + "good\r\n\r\n");
  EXPECT_EQ(r->status, 204);
  r = request(port, "POST /api/v1/me/search HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nAuthorization: Bearer readonly\r\n\r\n");
  EXPECT_EQ(r->status, 204);
}

TEST_F(ServerTest, SlowClientIsDropped) {
  ServerOptions o;
  o.header_timeout = 1s;
  start(o);
  Fd c(connect_to(port));
  std::string req = get("/hello");
  auto t0 = std::chrono::steady_clock::now();
  bool dropped = false;
  for (char ch : req) {
    if (!send_all(c.fd, std::string_view(&ch, 1))) {
      dropped = true;
      break;
    }
    if (closed_within(c.fd, 200ms)) {
      dropped = true;
      break;
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(dropped);
  EXPECT_LT(elapsed, 1800ms);
}

TEST_F(ServerTest, GracefulStopFinishesInFlight) {
  start();
  Fd idle(connect_to(port));  // an idle keep-alive connection is closed at once
  Fd c(connect_to(port));
  ASSERT_TRUE(send_all(c.fd, get("/api/v1/slow")));
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  server->stop();
  std::thread waiter([&] { server->wait(); });
  std::string buf;
  auto r = read_reply(c.fd, buf);
  waiter.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(closed_within(idle.fd, 100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // No longer accepting.
  EXPECT_LT(connect_to(port), 0);
}

TEST_F(ServerTest, ServesFilesAndMetrics) {
  file_path = ::testing::TempDir() + "taskhub_server_test.js";
  {
    std::ofstream f(file_path);
    f << "console.log('hi');\n";
  }
  start();
  auto r = request(port, get("/file"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "console.log('hi');\n");
  EXPECT_EQ(r->header("content-type"), "text/javascript; charset=utf-8");
  r = request(port, "HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n", true);
  EXPECT_EQ(r->header("content-length"), "19");
  std::remove(file_path.c_str());
  r = request(port, get("/file"));
  EXPECT_EQ(r->status, 404);

  // Metrics are recorded after the write completes: the client may be faster.
  std::string m;
  for (int i = 0; i < 100; ++i) {
    m = server->metrics_text();
    if (m.find("le=\"+Inf\"} 3") != std::string::npos && m.find("in_flight 0") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(m.find("taskhub_http_requests_total{method=\"GET\",route=\"/file\",status=\"200\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("taskhub_http_request_duration_seconds_bucket{route=\"/file\",le=\"+Inf\"} 3"), std::string::npos) << m;
  EXPECT_NE(m.find("taskhub_http_requests_in_flight 0"), std::string::npos);
  EXPECT_NE(m.find("# TYPE taskhub_http_connections gauge"), std::string::npos);
}

TEST_F(ServerTest, ExpectContinue) {
  start();
  Fd c(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  auto r = read_reply(c.fd, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 100);
  ASSERT_TRUE(send_all(c.fd, "xyz"));
  r = read_reply(c.fd, buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "xyz");
}

TEST_F(ServerTest, AccessLogIsOneJsonLine) {
  std::ostringstream os;
  auto logger = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::ostream_sink_mt>(os));
  logger->set_pattern("%v");
  spdlog::drop("access");
  spdlog::register_logger(logger);
  start();
  auto r = request(port, get("/api/v1/items/x%22y", "X-Request-Id: abc\r\n"));
  ASSERT_TRUE(r);
  server.reset();  // the line is written after the response: wait for the server to finish
  spdlog::drop("access");
  std::string line = os.str();
  ASSERT_FALSE(line.empty());
  line.erase(line.find('\n'));
  auto j = boost::json::parse(line).as_object();
  EXPECT_EQ(j.at("method").as_string(), "GET");
  EXPECT_EQ(j.at("route").as_string(), "/api/v1/items/{id}");
  EXPECT_EQ(j.at("path").as_string(), "/api/v1/items/x\"y");
  EXPECT_EQ(j.at("status").as_int64(), 200);
  EXPECT_TRUE(j.at("duration_ms").is_double());
  EXPECT_EQ(j.at("request_id").as_string(), "abc");
  EXPECT_TRUE(j.at("user_id").is_null());
  EXPECT_EQ(j.at("remote").as_string(), "127.0.0.1");
  EXPECT_EQ(j.at("bytes_out").as_int64(), static_cast<int64_t>(r->body.size()));
  EXPECT_TRUE(j.contains("time"));
}

TEST_F(ServerTest, ForwardedForOnlyFromTrustedProxies) {
  start();
  auto r = request(port, get("/remote", "X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "127.0.0.1");
  server.reset();
  ServerOptions o;
  o.trusted_proxies = {"127.0.0.0/8"};
  start(o);
  r = request(port, get("/remote", "X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "5.6.7.8");
}

TEST_F(ServerTest, MaxConnections) {
  ServerOptions o;
  o.max_connections = 1;
  start(o);
  Fd first(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(first.fd, get("/hello")));
  ASSERT_TRUE(read_reply(first.fd, buf));
  auto r = request(port, get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
}

// ---- spooled request bodies (RouteOptions::spool_dir) and ranges on file answers

namespace {

std::size_t files_in(const std::string& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

// Waits for the server to finish with a request it is still tearing down.
bool eventually_empty(const std::string& dir) {
  for (int i = 0; i < 200; ++i) {
    if (files_in(dir) == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class SpoolTest : public ServerTest {
 protected:
  void add_spool_route(std::size_t max_body) {
    spool_dir = ::testing::TempDir() + "taskhub_spool_" + std::to_string(::getpid());
    std::filesystem::remove_all(spool_dir);
    router.add("POST", "/upload", [this](Request& r) {
      calls.fetch_add(1);
      seen_path = r.body_file;
      std::string content;
      if (!r.body_file.empty()) {
        std::ifstream f(r.body_file, std::ios::binary);
        content.assign(std::istreambuf_iterator<char>(f), {});
      }
      // The body never reaches Request::body on a spooling route.
      return Response::text(201, std::to_string(r.body.size()) + ":" + content);
    }, {.auth = Auth::none, .max_body = max_body, .spool_dir = spool_dir});
  }
  void TearDown() override {
    ServerTest::TearDown();
    std::filesystem::remove_all(spool_dir);
  }
  std::string spool_dir;
  std::string seen_path;
  std::atomic<int> calls{0};
};

}  // namespace

TEST_F(SpoolTest, BodyReachesTheHandlerAsAFileRemovedAfterwards) {
  add_spool_route(1 << 20);
  start();
  std::string body("ab\0cd", 5);
  auto r = request(port, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n" + body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "0:" + body);
  EXPECT_EQ(seen_path.rfind(spool_dir + "/", 0), 0u) << seen_path;
  EXPECT_TRUE(eventually_empty(spool_dir));
  // Chunked, in two chunks: the same.
  r = request(port, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n2\r\n12\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "0:xyz12");
  EXPECT_TRUE(eventually_empty(spool_dir));
}

TEST_F(SpoolTest, TooLargeByContentLengthIsRefusedBeforeAnyFile) {
  add_spool_route(1000);
  start();
  auto r = request(port, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(files_in(spool_dir), 0u);
}

TEST_F(SpoolTest, ChunkedBodyPastTheLimitIsStoppedAndDeleted) {
  add_spool_route(100 * 1024);
  start();
  std::string chunk(64 * 1024, 'x');
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  std::string raw = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + chunk +
                    "\r\n" + size + chunk + "\r\n0\r\n\r\n";
  auto r = request(port, raw);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(eventually_empty(spool_dir));
}

TEST_F(SpoolTest, TruncatedBodyLeavesNothing) {
  add_spool_route(1 << 20);
  start();
  {
    Fd c(connect_to(port));
    ASSERT_GE(c.fd, 0);
    ASSERT_TRUE(send_all(c.fd, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789"));
    std::this_thread::sleep_for(50ms);
  }  // closes after 10 of 1000 bytes
  EXPECT_TRUE(eventually_empty(spool_dir));
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, FileRanges) {
  file_path = ::testing::TempDir() + "taskhub_server_range.bin";
  {
    std::ofstream f(file_path, std::ios::binary);
    f << "0123456789";
  }
  start();
  auto r = request(port, get("/file", "Range: bytes=2-4\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, "234");
  EXPECT_EQ(r->header("content-range"), "bytes 2-4/10");
  EXPECT_EQ(r->header("accept-ranges"), "bytes");
  r = request(port, get("/file", "Range: bytes=7-\r\n"));
  EXPECT_EQ(r->body, "789");
  r = request(port, get("/file", "Range: bytes=-3\r\n"));
  EXPECT_EQ(r->body, "789");
  r = request(port, get("/file", "Range: bytes=8-100\r\n"));
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, "89");
  EXPECT_EQ(r->header("content-range"), "bytes 8-9/10");
  r = request(port, get("/file", "Range: bytes=10-\r\n"));
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("content-range"), "bytes */10");
  // Several ranges, or nonsense: the whole file.
  r = request(port, get("/file", "Range: bytes=0-1,4-5\r\n"));
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "0123456789");
  r = request(port, get("/file", "Range: pages=1\r\n"));
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("accept-ranges"), "bytes");
  // Keep-alive survives a range answer.
  Fd c(connect_to(port));
  std::string buf;
  ASSERT_TRUE(send_all(c.fd, get("/file", "Range: bytes=0-0\r\n") + get("/file")));
  auto a = read_reply(c.fd, buf);
  auto b = read_reply(c.fd, buf);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "0");
  EXPECT_EQ(b->body, "0123456789");
  std::remove(file_path.c_str());
}

TEST_F(ServerTest, WritesRunOnTheirOwnPoolBesideReads) {
  // One read thread, held by a GET; two writes must still run, and at the same time (each
  // waits for the other): writes have their own, larger pool (default_write_threads).
  std::mutex mu;
  std::condition_variable cv;
  bool release_read = false;
  int writes_in = 0;
  router.add("GET", "/slow-read", [&](Request&) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, 10s, [&] { return release_read; });
    return Response::text(200, "read");
  }, {.auth = Auth::none});
  router.add("POST", "/together", [&](Request&) {
    std::unique_lock lk(mu);
    ++writes_in;
    cv.notify_all();
    bool both = cv.wait_for(lk, 5s, [&] { return writes_in >= 2; });
    return Response::text(200, both ? "together" : "alone");
  }, {.auth = Auth::none});
  ServerOptions opt;
  opt.blocking_threads = 1;
  opt.write_threads = 2;
  start(opt);

  Fd r(connect_to(port));
  ASSERT_TRUE(send_all(r.fd, get("/slow-read")));
  std::this_thread::sleep_for(100ms);  // the read now holds the only read thread
  std::string post = "POST /together HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  Fd w1(connect_to(port)), w2(connect_to(port));
  ASSERT_TRUE(send_all(w1.fd, post));
  ASSERT_TRUE(send_all(w2.fd, post));
  std::string b1, b2, br;
  auto a1 = read_reply(w1.fd, b1);
  auto a2 = read_reply(w2.fd, b2);
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(a1->body, "together");
  EXPECT_EQ(a2->body, "together");
  {
    std::lock_guard lk(mu);
    release_read = true;
  }
  cv.notify_all();
  auto ar = read_reply(r.fd, br);
  ASSERT_TRUE(ar);
  EXPECT_EQ(ar->body, "read");
}
