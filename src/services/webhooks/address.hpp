#pragma once
// Which addresses a webhook may reach (SSRF protection), and the checked, pinned target of a URL.
//
// A webhook URL is entered by a project admin but fetched by the server, from inside the
// network the server runs in: without a check it can reach loopback services, the intranet, or
// the cloud metadata endpoint (169.254.169.254). So the host is resolved and every address it
// resolves to must be public; the delivery then connects to exactly the address that was
// checked (curl's resolve cache is pinned), so a DNS answer that changes between the check and
// the connection (rebinding) cannot redirect it. Operators exempt hosts or CIDRs explicitly
// (WEBHOOK_ALLOW_HOSTS, WEBHOOK_ALLOW_PRIVATE_CIDRS).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskhub::webhooks {

// An IPv4 address is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one code path
// classifies both families and a mapped address is judged as the IPv4 address it stands for.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;  // written as IPv4 (or resolved as AF_INET)
  std::string to_string() const;
};

// Parses a numeric address as getaddrinfo(AI_NUMERICHOST) does (so "127.1" and "0x7f000001"
// are IPv4 addresses, as they are to the resolver), without brackets.
std::optional<IpAddress> parse_ip(std::string_view text);

// Why an address is not public, or nullptr when it is: "loopback", "private", "link-local",
// "shared (CGNAT)", "unspecified", "multicast", "reserved", ...
const char* blocked_reason(const IpAddress& a);

struct Cidr {
  IpAddress base;
  int prefix = 0;  // in IPv6 bits (an IPv4 /n is stored as /96+n)
  bool contains(const IpAddress& a) const;
};
// "10.0.0.0/8", "fd00::/8", "127.0.0.1" (a single address). nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

struct AllowList {
  std::vector<std::string> hosts;  // lower-case host names (or literals), exempt entirely
  std::vector<Cidr> cidrs;         // addresses exempt from the check
  // Throws std::runtime_error naming the bad entry.
  static AllowList from_config(const std::vector<std::string>& hosts, const std::vector<std::string>& cidrs);
};

// A URL split into what the sender needs.
struct ParsedUrl {
  std::string scheme;  // "http" | "https"
  std::string host;    // as curl sees it (IPv6 literals without brackets)
  int port = 0;
  bool ip_literal = false;
};

// Checks scheme (http/https only), no credentials, a host, length; nullopt + message when bad.
std::optional<ParsedUrl> parse_webhook_url(const std::string& url, std::string& error);

// The resolved address the delivery must connect to.
struct Target {
  ParsedUrl url;
  IpAddress address;                // the first one
  std::vector<IpAddress> addresses;  // every checked address, in resolver order (at most 16)
};

// Resolves the host and checks every address (any blocked one refuses the URL: a name that
// resolves to one public and one private address could be made to use the private one).
// Returns the addresses, or nullopt with `error` set ("resolves to a loopback address", ...).
std::optional<Target> resolve_and_check(const std::string& url, const AllowList& allow, std::string& error);

}  // namespace taskhub::webhooks
