// SigV4: AWS's documented examples, then the same inputs signed by botocore (an independent
// implementation, Debian's python3-botocore) at a frozen time.
#include "adapters/s3/sigv4.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "adapters/s3/s3_blob_store.hpp"
#include "adapters/s3/s3rver_test_support.hpp"

namespace taskhub::s3 {
namespace {

// From "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)" and
// "Authenticating Requests: Using the Authorization Header", Amazon S3 API reference.
const Credentials kAwsExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};
constexpr int64_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z

TEST(S3SigV4, AwsDocumentationPresignedUrlExample) {
  EXPECT_EQ(amz_date(k20130524), "20130524T000000Z");
  std::string q = presign_query(kAwsExample, k20130524, 86400, "GET", "examplebucket.s3.amazonaws.com", "/test.txt", {});
  EXPECT_EQ(q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
            "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(S3SigV4, AwsDocumentationGetObjectHeaderExample) {
  Request r;
  r.method = "GET";
  r.canonical_path = "/test.txt";
  r.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", r.payload_hash},
               {"x-amz-date", "20130524T000000Z"}};
  EXPECT_EQ(canonical_request(r),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(authorization_header(kAwsExample, k20130524, r),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(S3SigV4, UriEncodingAndQueryOrder) {
  EXPECT_EQ(uri_encode("a b;c/d~e_f.g-h=i+j%"), "a%20b%3Bc%2Fd~e_f.g-h%3Di%2Bj%25");
  EXPECT_EQ(uri_encode("dir/file.txt", false), "dir/file.txt");
  EXPECT_EQ(uri_encode("\xc3\xa9"), "%C3%A9");
  // By name first: "a-b" sorts after "a" although "a-b=" < "a=" as whole strings.
  EXPECT_EQ(canonical_query({{"a-b", "1"}, {"a", "2"}, {"B", "3"}}), "B=3&a=2&a-b=1");
  EXPECT_THROW(presign_query(kAwsExample, k20130524, 0, "GET", "h", "/k", {}), std::invalid_argument);
  EXPECT_THROW(presign_query(kAwsExample, k20130524, 604801, "GET", "h", "/k", {}), std::invalid_argument);
}

TEST(S3SigV4, AttachmentDispositionCannotBeSplit) {
  EXPECT_EQ(attachment_disposition("report.pdf"), "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  EXPECT_EQ(attachment_disposition("a \"b\";\r\nc\xc3\xa9.txt"),
            "attachment; filename=\"a _b____c__.txt\"; filename*=UTF-8''a%20%22b%22%3B%0D%0Ac%C3%A9.txt");
  EXPECT_EQ(attachment_disposition(""), "attachment; filename=\"download\"; filename*=UTF-8''");
}

// --- botocore --------------------------------------------------------------------------------

std::map<std::string, std::string> query_params(const std::string& url) {
  std::map<std::string, std::string> out;
  auto q = url.find('?');
  if (q == std::string::npos) return out;
  std::stringstream ss(url.substr(q + 1));
  std::string part;
  auto decode = [](const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        o += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        o += s[i] == '+' ? ' ' : s[i];
      }
    }
    return o;
  };
  while (std::getline(ss, part, '&')) {
    auto eq = part.find('=');
    out[decode(part.substr(0, eq))] = eq == std::string::npos ? "" : decode(part.substr(eq + 1));
  }
  return out;
}

// Runs botocore_reference.py on cases; returns its answers.
boost::json::array botocore(const boost::json::array& cases) {
  std::string root = testing::source_dir();
  std::string script = root + "/src/adapters/s3/botocore_reference.py";
  if (root.empty() || !std::filesystem::exists(script)) throw std::runtime_error("botocore_reference.py not found");
  auto dir = std::filesystem::temp_directory_path() / ("taskhub-botocore-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.json") << boost::json::serialize(cases);
  std::string cmd = "/usr/bin/python3 " + script + " < " + (dir / "in.json").string() + " > " + (dir / "out.json").string();
  int rc = std::system(cmd.c_str());
  std::stringstream out;
  out << std::ifstream(dir / "out.json").rdbuf();
  std::filesystem::remove_all(dir);
  if (rc != 0) throw std::runtime_error("botocore_reference.py failed (is python3-botocore installed?)");
  return boost::json::parse(out.str()).as_array();
}

bool have_botocore() { return std::system("/usr/bin/python3 -c 'import botocore' 2>/dev/null") == 0; }

BlobStoreConfig cfg(const std::string& endpoint, bool path_style, const std::string& region = "eu-west-3") {
  BlobStoreConfig c;
  c.s3_bucket = "taskhub-files";
  c.s3_region = region;
  c.s3_endpoint = endpoint;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  c.s3_path_style = path_style;
  return c;
}

TEST(S3SigV4, PresignedUrlsMatchBotocore) {
  if (!have_botocore()) GTEST_SKIP() << "python3-botocore not installed (scripts/setup installs it)";
  const int64_t now = 1795694400;  // 2026-11-26T08:00:00Z
  struct Case {
    BlobStoreConfig config;
    std::string key, name;
    int expires;
  };
  std::vector<Case> cases = {
      {cfg("http://127.0.0.1:4569", true), "files/ab/cd/0123456789abcdef", "report.pdf", 300},
      {cfg("", false), "files/x.y_z-1", "my report (final).pdf", 900},
      {cfg("", true, "us-east-1"), "a/b/c", "na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt", 60},
      {cfg("https://minio.example.org:9000", false), "k", "semi;colon; \"quoted\" 100% +plus.txt", 604800},
      {cfg("http://storage.example.org:80", true), "x/y", "emoji \xf0\x9f\x98\x80 & = ? # /slash.bin", 1},
  };
  boost::json::array in;
  std::vector<std::string> ours;
  for (auto& c : cases) {
    S3BlobStore store(c.config, [&] { return now; });
    std::string url = *store.presigned_get(c.key, c.expires, c.name);
    ours.push_back(url);
    // botocore gets the unsigned URL (operation parameter only) and adds its own auth params.
    Target t = store.target(c.key);
    std::string unsigned_url =
        t.url + "?response-content-disposition=" + uri_encode(attachment_disposition(c.name));
    in.push_back({{"kind", "presign"}, {"url", unsigned_url}, {"method", "GET"}, {"access_key", c.config.access_key_id},
                  {"secret", c.config.secret_access_key}, {"region", c.config.s3_region}, {"epoch", now},
                  {"expires", c.expires}});
  }
  auto theirs = botocore(in);
  ASSERT_EQ(theirs.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string their_url(theirs[i].at("url").as_string());
    SCOPED_TRACE(ours[i] + "\nbotocore: " + their_url);
    EXPECT_EQ(ours[i].substr(0, ours[i].find('?')), their_url.substr(0, their_url.find('?')));
    auto a = query_params(ours[i]), b = query_params(their_url);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a["X-Amz-Signature"].size(), 64u);
    EXPECT_EQ(a["response-content-disposition"], attachment_disposition(cases[i].name));
  }
  // The virtual-host case really is virtual-host style.
  EXPECT_EQ(ours[1].rfind("https://taskhub-files.s3.eu-west-3.amazonaws.com/files/x.y_z-1?", 0), 0u);
  // A default port is not part of the URL nor of the signed host.
  EXPECT_EQ(ours[4].rfind("http://storage.example.org/taskhub-files/x/y?", 0), 0u);
}

TEST(S3SigV4, RequestSigningMatchesBotocore) {
  if (!have_botocore()) GTEST_SKIP() << "python3-botocore not installed (scripts/setup installs it)";
  const int64_t now = 1795694400;
  S3BlobStore path(cfg("http://127.0.0.1:4569", true), [&] { return now; });
  S3BlobStore vhost(cfg("", false), [&] { return now; });
  struct Case {
    S3BlobStore* store;
    std::string method, key;
    Params query;
    std::string body, content_type;
  };
  std::vector<Case> cases = {
      {&path, "PUT", "files/0123/abcd", {}, std::string("bytes\0with NUL", 14), "application/pdf"},
      {&vhost, "PUT", "files/0123/abcd", {}, "x", "text/plain; charset=utf-8"},
      {&path, "GET", "", {{"list-type", "2"}, {"max-keys", "1000"}, {"prefix", "files/"},
                          {"continuation-token", "1/abc+def==/x y"}}, "", ""},
      {&vhost, "DELETE", "a/b.c", {}, "", ""},
      {&path, "HEAD", "a_b-c", {}, "", ""},
  };
  boost::json::array in;
  std::vector<Params> ours;
  for (auto& c : cases) {
    Target t = c.store->target(c.key);
    Params extra;
    if (!c.content_type.empty()) extra.emplace_back("content-type", c.content_type);
    ours.push_back(c.store->sign(c.method, t, c.query, sha256_hex(c.body), extra));
    boost::json::object headers;
    if (!c.content_type.empty()) headers["Content-Type"] = c.content_type;
    boost::json::object params;  // raw: botocore encodes them its own way
    for (const auto& [k, v] : c.query) params[k] = v;
    in.push_back({{"kind", "header"}, {"url", t.url}, {"method", c.method}, {"access_key", "AKIDEXAMPLE"},
                  {"secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, {"region", "eu-west-3"}, {"epoch", now},
                  {"headers", headers}, {"params", params}, {"body", c.body}});
  }
  auto theirs = botocore(in);
  ASSERT_EQ(theirs.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::map<std::string, std::string> mine(ours[i].begin(), ours[i].end());
    SCOPED_TRACE(cases[i].method + " " + cases[i].key);
    EXPECT_EQ(mine["authorization"], std::string(theirs[i].at("authorization").as_string()));
    EXPECT_EQ(mine["x-amz-content-sha256"],
              std::string(theirs[i].at("headers").at("x-amz-content-sha256").as_string()));
  }
}

}  // namespace
}  // namespace taskhub::s3
