// Idempotency-Key in the HTTP server, with an in-memory fake store: replay, mismatch,
// in-progress, 5xx abandon, validation, and the routes that are not covered.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "http/idempotency.hpp"
#include "http/server.hpp"

using namespace taskhub;
using namespace taskhub::http;
using namespace std::chrono_literals;

namespace {

// Same semantics as the SQL store, minus time.
class FakeStore final : public IdempotencyStore {
 public:
  struct Entry {
    std::string fingerprint;
    bool complete = false;
    StoredResponse response;
  };
  IdempotencyBegin begin(std::string_view user_id, std::string_view key, std::string_view method,
                         std::string_view target, std::string_view body_sha256) override {
    std::lock_guard lk(mu);
    ++begins;
    if (key == "explode") throw std::runtime_error("store down");
    std::string fp = std::string(method) + " " + std::string(target) + " " + std::string(body_sha256);
    auto [it, inserted] = entries.try_emplace(id(user_id, key), Entry{fp, false, {}});
    if (inserted) return IdempotencyBegin::proceed();
    if (it->second.fingerprint != fp) return IdempotencyBegin::mismatch();
    if (!it->second.complete) return IdempotencyBegin::in_progress();
    return IdempotencyBegin::replay(it->second.response);
  }
  void complete(std::string_view user_id, std::string_view key, const StoredResponse& r) override {
    std::lock_guard lk(mu);
    auto& e = entries.at(id(user_id, key));
    e.complete = true;
    e.response = r;
  }
  void abandon(std::string_view user_id, std::string_view key) override {
    std::lock_guard lk(mu);
    ++abandons;
    entries.erase(id(user_id, key));
  }
  static std::string id(std::string_view u, std::string_view k) { return std::string(u) + "\n" + std::string(k); }

  std::mutex mu;
  std::map<std::string, Entry> entries;
  int begins = 0;
  int abandons = 0;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

// One request per connection (Connection: close), read to EOF.
Reply send_request(unsigned short port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Reply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  std::string_view s = raw;
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string all;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::size_t end = all.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  std::string head = all.substr(0, end);
  r.body = all.substr(end + 4);
  r.status = std::atoi(head.c_str() + 9);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  return r;
}

std::string post(const std::string& path, const std::string& body, const std::string& extra) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class IdempotencyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router.add("POST", "/api/v1/things", [this](Request& r) {
      int n = ++created;
      Response res = Response::json(201, boost::json::object{{"n", n}, {"body", r.body}});
      res.headers.set("Location", "/api/v1/things/" + std::to_string(n));
      res.headers.set("X-Not-Stored", "1");
      return res;
    });
    router.add("POST", "/api/v1/invalid", [this](Request&) -> Response {
      ++created;
      throw bad_field("name", "is required");
    });
    router.add("POST", "/api/v1/crash", [this](Request&) -> Response {
      ++created;
      throw std::runtime_error("database down");
    });
    router.add("POST", "/api/v1/unavailable", [this](Request&) -> Response {
      ++created;
      return Response::text(503, "later");
    });
    router.add("POST", "/api/v1/slow", [this](Request&) {
      entered = true;
      while (!release) std::this_thread::sleep_for(5ms);
      return Response::json(201, boost::json::object{{"n", ++created}});
    });
    router.add("POST", "/api/v1/public", [this](Request&) { return Response::json(200, boost::json::object{{"n", ++created}}); },
               {.auth = Auth::none});
    router.add("POST", "/api/v1/maybe", [this](Request&) { return Response::json(200, boost::json::object{{"n", ++created}}); },
               {.auth = Auth::optional});

    ServerOptions opt;
    opt.bind_address = "127.0.0.1";
    opt.port = 0;
    opt.io_threads = 2;
    opt.blocking_threads = 4;
    server = std::make_unique<Server>(opt, router);
    server->set_authenticator([](std::string_view token) -> std::optional<Principal> {
      if (token == "alice" || token == "bob")
        return Principal{.user_id = std::string(token), .is_admin = false, .can_write = true,
                         .kind = CredentialKind::access_token, .session_id = "s", .token_id = ""};
      return std::nullopt;
    });
    server->set_idempotency_store(store);
    server->start();
    port = server->port();
  }
  void TearDown() override { server.reset(); }

  Reply call(const std::string& path, const std::string& body, const std::string& key, const std::string& user = "alice") {
    std::string extra;
    if (!user.empty()) extra += "Authorization: Bearer " + user + "\r\n";
    if (!key.empty()) extra += "Idempotency-Key: " + key + "\r\n";
    return send_request(port, post(path, body, extra));
  }

  Router router;
  std::shared_ptr<FakeStore> store = std::make_shared<FakeStore>();
  std::unique_ptr<Server> server;
  unsigned short port = 0;
  std::atomic<int> created{0};
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
};

TEST_F(IdempotencyServerTest, SameKeyAndBodyReplaysTheFirstAnswer) {
  Reply a = call("/api/v1/things", R"({"x":1})", "key-1");
  ASSERT_EQ(a.status, 201);
  EXPECT_EQ(a.header("idempotent-replayed"), "");
  Reply b = call("/api/v1/things", R"({"x":1})", "key-1");
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(b.header("idempotent-replayed"), "true");
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(b.header("location"), "/api/v1/things/1");
  EXPECT_EQ(b.header("content-type"), a.header("content-type"));
  EXPECT_EQ(b.header("x-not-stored"), "");
  EXPECT_FALSE(b.header("x-request-id").empty());
  EXPECT_EQ(created, 1);
}

TEST_F(IdempotencyServerTest, SameKeyWithAnotherBodyIs422) {
  ASSERT_EQ(call("/api/v1/things", R"({"x":1})", "key-1").status, 201);
  Reply b = call("/api/v1/things", R"({"x":2})", "key-1");
  EXPECT_EQ(b.status, 422);
  EXPECT_NE(b.body.find("idempotency-key-reused"), std::string::npos);
  EXPECT_EQ(b.header("content-type").rfind("application/problem+json", 0), 0u);
  EXPECT_EQ(created, 1);
}

TEST_F(IdempotencyServerTest, KeysArePerUserAndWithoutKeyNothingIsRecorded) {
  ASSERT_EQ(call("/api/v1/things", "{}", "k").status, 201);
  Reply b = call("/api/v1/things", R"({"other":true})", "k", "bob");
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(b.header("idempotent-replayed"), "");
  EXPECT_EQ(call("/api/v1/things", "{}", "").status, 201);
  EXPECT_EQ(call("/api/v1/things", "{}", "").status, 201);
  EXPECT_EQ(created, 4);
  EXPECT_EQ(store->begins, 2);
}

TEST_F(IdempotencyServerTest, ConcurrentDuplicateIs409WithRetryAfter) {
  std::thread first([&] { EXPECT_EQ(call("/api/v1/slow", "{}", "k").status, 201); });
  for (int i = 0; i < 500 && !entered; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(entered);
  Reply b = call("/api/v1/slow", "{}", "k");
  EXPECT_EQ(b.status, 409);
  EXPECT_EQ(b.header("retry-after"), "1");
  EXPECT_NE(b.body.find("idempotency-key-in-progress"), std::string::npos);
  release = true;
  first.join();
  Reply c = call("/api/v1/slow", "{}", "k");
  EXPECT_EQ(c.status, 201);
  EXPECT_EQ(c.header("idempotent-replayed"), "true");
  EXPECT_EQ(created, 1);
}

TEST_F(IdempotencyServerTest, ServerErrorsAndExceptionsReleaseTheKey) {
  EXPECT_EQ(call("/api/v1/crash", "{}", "k1").status, 500);
  EXPECT_EQ(call("/api/v1/crash", "{}", "k1").status, 500);
  EXPECT_EQ(call("/api/v1/unavailable", "{}", "k2").status, 503);
  EXPECT_EQ(call("/api/v1/unavailable", "{}", "k2").status, 503);
  EXPECT_EQ(created, 4);  // every attempt ran
  EXPECT_EQ(store->abandons, 4);
  EXPECT_TRUE(store->entries.empty());
}

TEST_F(IdempotencyServerTest, ClientErrorsAreRecordedAndReplayed) {
  Reply a = call("/api/v1/invalid", "{}", "k");
  EXPECT_EQ(a.status, 400);
  Reply b = call("/api/v1/invalid", "{}", "k");
  EXPECT_EQ(b.status, 400);
  EXPECT_EQ(b.header("idempotent-replayed"), "true");
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(created, 1);
}

TEST_F(IdempotencyServerTest, InvalidKeyIs400) {
  for (std::string bad : {std::string(256, 'a'), std::string("has space")}) {
    Reply r = call("/api/v1/things", "{}", bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.body.find("Idempotency-Key"), std::string::npos);
  }
  // Present but empty.
  Reply e = send_request(port, post("/api/v1/things", "{}", "Authorization: Bearer alice\r\nIdempotency-Key:\r\n"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(created, 0);
  EXPECT_EQ(call("/api/v1/things", "{}", std::string(255, '~')).status, 201);
}

TEST_F(IdempotencyServerTest, PublicRoutesAndAnonymousCallsAreNotCovered) {
  EXPECT_EQ(call("/api/v1/public", "{}", "k", "alice").status, 200);
  EXPECT_EQ(call("/api/v1/public", "{}", "k", "alice").status, 200);
  EXPECT_EQ(call("/api/v1/maybe", "{}", "k", "").status, 200);
  EXPECT_EQ(call("/api/v1/maybe", "{}", "k", "").status, 200);
  EXPECT_EQ(created, 4);
  EXPECT_EQ(store->begins, 0);
  // Optional auth with a principal is covered.
  EXPECT_EQ(call("/api/v1/maybe", "{}", "k", "alice").status, 200);
  EXPECT_EQ(call("/api/v1/maybe", "{}", "k", "alice").header("idempotent-replayed"), "true");
  EXPECT_EQ(created, 5);
}

TEST_F(IdempotencyServerTest, UnauthenticatedIs401BeforeTheStore) {
  EXPECT_EQ(call("/api/v1/things", "{}", "k", "nobody").status, 401);
  EXPECT_EQ(store->begins, 0);
}

TEST_F(IdempotencyServerTest, StoreFailureIs500AndTheHandlerDoesNotRun) {
  Reply r = call("/api/v1/things", "{}", "explode");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("store down"), std::string::npos);
  EXPECT_EQ(created, 0);
}

}  // namespace
