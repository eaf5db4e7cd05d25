// Address classification (SSRF), URL checks and the allow-list. Odd numeric forms are the ones
// the system resolver accepts (inet_aton): "127.1", "0x7f000001", "2130706433", "0177.0.0.1".
#include "services/webhooks/address.hpp"

#include <gtest/gtest.h>

#include "app/config.hpp"

namespace taskhub::webhooks {
namespace {

std::string reason(const std::string& ip) {
  auto a = parse_ip(ip);
  EXPECT_TRUE(a) << ip;
  if (!a) return "unparsed";
  const char* r = blocked_reason(*a);
  return r ? r : "public";
}

TEST(WebhookAddress, Ipv4Ranges) {
  EXPECT_EQ(reason("127.0.0.1"), "loopback");
  EXPECT_EQ(reason("127.255.255.254"), "loopback");
  EXPECT_EQ(reason("10.0.0.1"), "private");
  EXPECT_EQ(reason("172.16.0.1"), "private");
  EXPECT_EQ(reason("172.31.255.255"), "private");
  EXPECT_EQ(reason("172.32.0.1"), "public");
  EXPECT_EQ(reason("192.168.1.1"), "private");
  EXPECT_EQ(reason("169.254.169.254"), "link-local");  // cloud metadata
  EXPECT_EQ(reason("100.64.0.1"), "shared (CGNAT)");
  EXPECT_EQ(reason("100.127.255.255"), "shared (CGNAT)");
  EXPECT_EQ(reason("100.128.0.1"), "public");
  EXPECT_EQ(reason("0.0.0.0"), "unspecified");
  EXPECT_EQ(reason("224.0.0.1"), "multicast");
  EXPECT_EQ(reason("239.255.255.250"), "multicast");
  EXPECT_EQ(reason("255.255.255.255"), "reserved");
  EXPECT_EQ(reason("192.0.2.10"), "reserved");
  EXPECT_EQ(reason("198.18.0.1"), "reserved");
  EXPECT_EQ(reason("8.8.8.8"), "public");
  EXPECT_EQ(reason("93.184.216.34"), "public");
}

TEST(WebhookAddress, OddIpv4FormsTheResolverAccepts) {
  EXPECT_EQ(reason("127.1"), "loopback");
  EXPECT_EQ(reason("0x7f000001"), "loopback");
  EXPECT_EQ(reason("2130706433"), "loopback");
  EXPECT_EQ(reason("0177.0.0.1"), "loopback");
  EXPECT_EQ(reason("0x7f.1"), "loopback");
  EXPECT_EQ(reason("10.1"), "private");
  EXPECT_EQ(reason("0xa9fea9fe"), "link-local");  // 169.254.169.254
  EXPECT_EQ(reason("0"), "unspecified");
}

TEST(WebhookAddress, Ipv6Ranges) {
  EXPECT_EQ(reason("::1"), "loopback");
  EXPECT_EQ(reason("::"), "unspecified");
  EXPECT_EQ(reason("fc00::1"), "private");
  EXPECT_EQ(reason("fd12:3456::1"), "private");
  EXPECT_EQ(reason("fe80::1"), "link-local");
  EXPECT_EQ(reason("febf::1"), "link-local");
  EXPECT_EQ(reason("fec0::1"), "private");
  EXPECT_EQ(reason("ff02::1"), "multicast");
  EXPECT_EQ(reason("2001:db8::1"), "reserved");
  EXPECT_EQ(reason("2606:4700:4700::1111"), "public");
  EXPECT_EQ(reason("2a00:1450:4001:80b::200e"), "public");
}

TEST(WebhookAddress, MappedAndEmbeddedIpv4) {
  EXPECT_EQ(reason("::ffff:127.0.0.1"), "loopback");
  EXPECT_EQ(reason("::ffff:7f00:1"), "loopback");
  EXPECT_EQ(reason("::ffff:169.254.169.254"), "link-local");
  EXPECT_EQ(reason("::ffff:10.0.0.1"), "private");
  EXPECT_EQ(reason("::ffff:8.8.8.8"), "public");
  EXPECT_EQ(reason("::127.0.0.1"), "reserved");  // IPv4-compatible (deprecated)
  EXPECT_EQ(reason("64:ff9b::a9fe:a9fe"), "link-local");  // NAT64 of 169.254.169.254
  EXPECT_EQ(reason("64:ff9b::808:808"), "public");
  EXPECT_EQ(reason("2002:7f00:1::1"), "loopback");  // 6to4 of 127.0.0.1
  EXPECT_EQ(reason("2002:0808:0808::1"), "public");
}

TEST(WebhookAddress, Cidrs) {
  auto c = parse_cidr("127.0.0.1/32");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*parse_ip("127.0.0.1")));
  EXPECT_TRUE(c->contains(*parse_ip("::ffff:127.0.0.1")));  // the mapped form is the same address
  EXPECT_FALSE(c->contains(*parse_ip("127.0.0.2")));
  auto ten = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(ten);
  EXPECT_TRUE(ten->contains(*parse_ip("10.200.3.4")));
  EXPECT_FALSE(ten->contains(*parse_ip("11.0.0.1")));
  auto v6 = parse_cidr("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*parse_ip("fd12::1")));
  EXPECT_FALSE(v6->contains(*parse_ip("fc00::1")));
  EXPECT_TRUE(parse_cidr("::1"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/33"));
  EXPECT_FALSE(parse_cidr("::/129"));
  EXPECT_FALSE(parse_cidr("example.com/8"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/x"));
  EXPECT_THROW(AllowList::from_config({}, {"nonsense"}), std::runtime_error);
}

TEST(WebhookAddress, UrlChecks) {
  std::string err;
  EXPECT_FALSE(parse_webhook_url("ftp://example.com/x", err));
  EXPECT_FALSE(parse_webhook_url("file:///etc/passwd", err));
  EXPECT_FALSE(parse_webhook_url("gopher://127.0.0.1:6379/_", err));
  EXPECT_FALSE(parse_webhook_url("http://user:pw@example.com/", err));
  EXPECT_FALSE(parse_webhook_url("example.com/hook", err));
  EXPECT_FALSE(parse_webhook_url("http://exa mple.com/", err));
  EXPECT_FALSE(parse_webhook_url("http://example.com/" + std::string(3000, 'a'), err));
  auto p = parse_webhook_url("https://Example.COM/hook?x=1", err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->host, "example.com");
  EXPECT_EQ(p->port, 443);
  EXPECT_FALSE(p->ip_literal);
  p = parse_webhook_url("http://[::1]:8080/", err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->host, "::1");
  EXPECT_EQ(p->port, 8080);
  EXPECT_TRUE(p->ip_literal);
}

TEST(WebhookAddress, ResolveRefusesInternalTargets) {
  AllowList none;
  std::string err;
  for (const char* url : {"http://127.0.0.1:8080/", "http://127.1/", "http://0x7f000001/", "http://2130706433/",
                          "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
                          "http://10.0.0.1/", "http://192.168.0.10/", "http://100.64.1.1/", "http://0.0.0.0/",
                          "http://[fe80::1]/", "http://[fd00::1]/", "http://localhost/", "http://224.0.0.1/"}) {
    err.clear();
    EXPECT_FALSE(resolve_and_check(url, none, err)) << url;
    EXPECT_FALSE(err.empty()) << url;
  }
}

TEST(WebhookAddress, AllowListExemptsOnlyItsEntries) {
  auto allow = AllowList::from_config({}, {"127.0.0.1/32"});
  std::string err;
  auto t = resolve_and_check("http://127.0.0.1:9/", allow, err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->address.to_string(), "127.0.0.1");
  EXPECT_EQ(t->url.port, 9);
  EXPECT_FALSE(resolve_and_check("http://127.0.0.2/", allow, err));
  EXPECT_FALSE(resolve_and_check("http://10.0.0.1/", allow, err));
  EXPECT_FALSE(resolve_and_check("http://[::1]/", allow, err));

  auto hosts = AllowList::from_config({"LocalHost"}, {});
  EXPECT_TRUE(resolve_and_check("http://localhost:1/", hosts, err)) << err;
  EXPECT_FALSE(resolve_and_check("http://127.0.0.1/", hosts, err));
}

TEST(WebhookAddress, PublicLiteralPasses) {
  std::string err;
  auto t = resolve_and_check("https://93.184.216.34/hook", AllowList{}, err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->address.to_string(), "93.184.216.34");
  EXPECT_EQ(t->url.port, 443);
}

TEST(WebhookConfig, KeysAndBounds) {
  Config d = config_from_map({});
  EXPECT_EQ(d.webhook_timeout_ms, 5000);
  EXPECT_EQ(d.webhook_max_attempts, 8);
  EXPECT_EQ(d.webhook_disable_after_hours, 24);
  EXPECT_TRUE(d.webhook_allow_hosts.empty());
  Config c = config_from_map({{"WEBHOOK_TIMEOUT_MS", "250"},
                              {"WEBHOOK_MAX_ATTEMPTS", "3"},
                              {"WEBHOOK_DISABLE_AFTER_HOURS", "0"},
                              {"WEBHOOK_ALLOW_HOSTS", "hooks.intra, Build.Local"},
                              {"WEBHOOK_ALLOW_PRIVATE_CIDRS", "127.0.0.1/32,10.20.0.0/16"}});
  EXPECT_EQ(c.webhook_timeout_ms, 250);
  EXPECT_EQ(c.webhook_max_attempts, 3);
  EXPECT_EQ(c.webhook_disable_after_hours, 0);
  EXPECT_EQ(c.webhook_allow_hosts, (std::vector<std::string>{"hooks.intra", "Build.Local"}));
  auto allow = AllowList::from_config(c.webhook_allow_hosts, c.webhook_allow_private_cidrs);
  EXPECT_EQ(allow.hosts, (std::vector<std::string>{"hooks.intra", "build.local"}));
  EXPECT_EQ(allow.cidrs.size(), 2u);
  for (auto [k, v] : std::initializer_list<std::pair<const char*, const char*>>{
           {"WEBHOOK_TIMEOUT_MS", "99"}, {"WEBHOOK_TIMEOUT_MS", "60001"}, {"WEBHOOK_MAX_ATTEMPTS", "0"},
           {"WEBHOOK_MAX_ATTEMPTS", "101"}, {"WEBHOOK_DISABLE_AFTER_HOURS", "-1"}})
    EXPECT_THROW(config_from_map({{k, v}}), std::runtime_error) << k << "=" << v;
}

}  // namespace
}  // namespace taskhub::webhooks
