// The sender against a real local socket: the host name is never resolved by curl (the
// delivery goes to the pinned, checked address), and the signature headers are sent.
#include "services/webhooks/sender.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace taskhub::webhooks {
namespace {

// Accepts one connection, reads the request, answers `answer`; keeps what it read.
class OneShotServer {
 public:
  explicit OneShotServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 1);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos || request_.find("}") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request_.append(buf, static_cast<std::size_t>(n));
      }
      (void)!::write(c, answer_.data(), answer_.size());
      ::close(c);
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  const std::string& request() const { return request_; }

 private:
  std::string answer_, request_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
};

TEST(WebhookSender, ConnectsToThePinnedAddressWithoutResolving) {
  OneShotServer srv("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  std::string err;
  const std::string url = "http://receiver.invalid:" + std::to_string(srv.port()) + "/hook";
  auto parsed = parse_webhook_url(url, err);
  ASSERT_TRUE(parsed) << err;
  EXPECT_FALSE(parsed->ip_literal);
  Target t{*parsed, *parse_ip("127.0.0.1"), {*parse_ip("127.0.0.1")}};
  auto r = post_json(t, url, {{"X-Taskhub-Timestamp", "1700000000"}}, R"({"id":"e1"})", SendOptions{2000, 1024});
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 204);
  EXPECT_NE(srv.request().find("Host: receiver.invalid:"), std::string::npos) << srv.request();
  EXPECT_NE(srv.request().find("X-Taskhub-Timestamp: 1700000000"), std::string::npos);
}

TEST(WebhookSender, RefusedConnectionIsATransportFailure) {
  int port;
  {
    OneShotServer probe("");
    port = probe.port();
  }  // closed: nothing listens there now
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  std::string err;
  auto t = resolve_and_check(url, AllowList::from_config({}, {"127.0.0.1/32"}), err);
  ASSERT_TRUE(t) << err;
  auto r = post_json(*t, url, {}, "{}", SendOptions{1000, 1024});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.transport_failed);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

}  // namespace
}  // namespace taskhub::webhooks
