// The S3 adapter against a real S3-protocol server (s3rver, started per test suite).
#include "adapters/s3/s3_blob_store.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "adapters/s3/s3rver_test_support.hpp"

namespace taskhub::s3 {
namespace {

namespace fs = std::filesystem;

class S3BlobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::s3rver_available()) server_ = new testing::S3rver();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "node or web/node_modules/s3rver missing (scripts/setup installs them)";
    std::string tmpl = (fs::temp_directory_path() / "taskhub-s3test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<S3BlobStore>(server_->config());
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string write_file(const std::string& name, const std::string& bytes) {
    std::string p = (fs::path(dir_) / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string read_file(const std::string& p) {
    std::stringstream ss;
    ss << std::ifstream(p, std::ios::binary).rdbuf();
    return ss.str();
  }

  static testing::S3rver* server_;
  fs::path dir_;
  std::unique_ptr<S3BlobStore> store_;
};
testing::S3rver* S3BlobStoreTest::server_ = nullptr;

struct Fetched {
  long status = 0;
  std::string body, headers;
};

// A plain GET, as a browser following the redirect would do it.
Fetched fetch(const std::string& url) {
  Fetched f;
  CURL* c = curl_easy_init();
  auto append = +[](char* d, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(d, s * n);
    return s * n;
  };
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &f.headers);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) throw std::runtime_error(curl_easy_strerror(rc));
  return f;
}

// The shape of AWS's ListObjectsV2 answer (API reference example), with entities in keys and
// token; no server needed.
TEST(S3ListPage, ParsesKeysSizesTimesAndTheContinuationToken) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name><Prefix/>"
      "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;x</NextContinuationToken>"
      "<Contents><Key>my-image.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
      "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>a&amp;b&#x20AC;&#36;&#xZZ;</Key><LastModified>2009-10-12T17:50:31.500Z</LastModified>"
      "<Size>0</Size></Contents></ListBucketResult>";
  ListPage page = parse_list_page(xml);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].key, "my-image.jpg");
  EXPECT_EQ(page.items[0].size, 434234u);
  EXPECT_EQ(page.items[0].modified_ms, 1255369830000);
  EXPECT_EQ(page.items[1].key, "a&b\xe2\x82\xac$&#xZZ;");  // malformed entity kept verbatim
  EXPECT_EQ(page.items[1].modified_ms, 1255369831500);
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&x");

  ListPage last = parse_list_page("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  EXPECT_TRUE(last.items.empty());
  EXPECT_FALSE(last.truncated);
  EXPECT_THROW(parse_list_page("<Contents><Size>1</Size></Contents>"), std::runtime_error);
  EXPECT_THROW(parse_list_page("<Contents><Key>k</Key><Size>-x</Size></Contents>"), std::runtime_error);
}

TEST_F(S3BlobStoreTest, RoundTripOf20MiBWithNulBytesIsByteForByte) {
  std::string bytes(20 * 1024 * 1024, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t v = rng();
    // Every 8th word left zero: runs of NUL bytes, plus random bytes (including NULs) elsewhere.
    if ((i / 8) % 8 != 0) std::memcpy(&bytes[i], &v, std::min<size_t>(8, bytes.size() - i));
  }
  std::string src = write_file("src.bin", bytes);
  store_->put("files/round/trip.bin", src, "application/octet-stream");
  std::string dest = (dir_ / "dest.bin").string();
  store_->get("files/round/trip.bin", dest);
  std::string got = read_file(dest);
  ASSERT_EQ(got.size(), bytes.size());
  EXPECT_TRUE(got == bytes);

  auto info = store_->stat("files/round/trip.bin");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->key, "files/round/trip.bin");
  EXPECT_EQ(info->size, bytes.size());
  int64_t now_ms = static_cast<int64_t>(std::time(nullptr)) * 1000;
  EXPECT_LE(std::abs(info->modified_ms - now_ms), 120'000);

  // Replacing is allowed and complete.
  store_->put("files/round/trip.bin", write_file("small", "small"), "text/plain");
  store_->get("files/round/trip.bin", dest);
  EXPECT_EQ(read_file(dest), "small");
}

TEST_F(S3BlobStoreTest, MissingKeys) {
  EXPECT_FALSE(store_->stat("files/never/written"));
  std::string dest = (dir_ / "missing.bin").string();
  EXPECT_THROW(store_->get("files/never/written", dest), BlobNotFound);
  EXPECT_FALSE(fs::exists(dest));  // no empty file left behind
  EXPECT_NO_THROW(store_->remove("files/never/written"));
}

TEST_F(S3BlobStoreTest, RemoveDeletesTheObject) {
  store_->put("files/rm/one", write_file("one", "1"), "");
  ASSERT_TRUE(store_->stat("files/rm/one"));
  store_->remove("files/rm/one");
  EXPECT_FALSE(store_->stat("files/rm/one"));
  EXPECT_THROW(store_->get("files/rm/one", (dir_ / "x").string()), BlobNotFound);
  store_->remove("files/rm/one");  // twice: still fine
}

TEST_F(S3BlobStoreTest, ListPagesThroughContinuationTokens) {
  // 23 keys under the prefix with pages of 5 (5 pages, the last partial), and keys outside it.
  std::string one = write_file("one", "x");
  std::set<std::string> expected;
  for (int i = 0; i < 23; ++i) {
    std::string key = "list/p/" + std::to_string(1000 + i);
    store_->put(key, one, "");
    expected.insert(key);
  }
  store_->put("list/q/other", one, "");
  store_->put("listx", one, "");
  store_->set_list_page_size(5);
  std::set<std::string> seen;
  store_->list("list/p/", [&](const BlobInfo& b) {
    EXPECT_EQ(b.size, 1u);
    EXPECT_GT(b.modified_ms, 0);
    EXPECT_TRUE(seen.insert(b.key).second) << "listed twice: " << b.key;
    return true;
  });
  EXPECT_EQ(seen, expected);

  // fn returning false stops the listing (here after the 7th, in the second page).
  int calls = 0;
  store_->list("list/p/", [&](const BlobInfo&) { return ++calls < 7; });
  EXPECT_EQ(calls, 7);

  // Empty prefix: everything in the bucket, including the other keys.
  std::set<std::string> all;
  store_->list("", [&](const BlobInfo& b) {
    all.insert(b.key);
    return true;
  });
  EXPECT_TRUE(all.count("listx"));
  EXPECT_TRUE(all.count("list/q/other"));
  EXPECT_TRUE(all.count("list/p/1022"));
}

TEST_F(S3BlobStoreTest, ListOfMoreThan1000KeysWithTheDefaultPageSize) {
  // s3rver, like S3, answers at most 1000 keys a page: 1001 keys need a continuation token.
  std::string one = write_file("one", "x");
  for (int i = 0; i < 1001; ++i) store_->put("big/" + std::to_string(10000 + i), one, "");
  int n = 0;
  std::set<std::string> seen;
  store_->list("big/", [&](const BlobInfo& b) {
    ++n;
    seen.insert(b.key);
    return true;
  });
  EXPECT_EQ(n, 1001);
  EXPECT_EQ(seen.size(), 1001u);
}

TEST_F(S3BlobStoreTest, PresignedUrlDownloadsAsAttachment) {
  std::string bytes("presigned\0bytes", 15);
  store_->put("files/pre/signed", write_file("p", bytes), "application/pdf");
  auto url = store_->presigned_get("files/pre/signed", 300, "Quarterly report; final \xc3\xa9.pdf");
  ASSERT_TRUE(url);
  EXPECT_NE(url->find("X-Amz-Expires=300"), std::string::npos);
  Fetched f = fetch(*url);
  EXPECT_EQ(f.status, 200) << f.body;
  EXPECT_TRUE(f.body == bytes);
  EXPECT_NE(f.headers.find("Content-Disposition: attachment; filename=\"Quarterly report_ final __.pdf\"; "
                           "filename*=UTF-8''Quarterly%20report%3B%20final%20%C3%A9.pdf"),
            std::string::npos)
      << f.headers;
}

TEST_F(S3BlobStoreTest, ExpiredPresignedUrlIsRefused) {
  store_->put("files/pre/expired", write_file("e", "e"), "");
  // Signed 10 minutes ago for 60 seconds.
  S3BlobStore past(server_->config(), [] { return static_cast<int64_t>(std::time(nullptr)) - 600; });
  Fetched f = fetch(*past.presigned_get("files/pre/expired", 60, "e.txt"));
  EXPECT_EQ(f.status, 403);
  EXPECT_NE(f.body.find("<Code>AccessDenied</Code>"), std::string::npos) << f.body;
  EXPECT_NE(f.body.find("Request has expired"), std::string::npos) << f.body;
  // The same, still valid, works.
  S3BlobStore recent(server_->config(), [] { return static_cast<int64_t>(std::time(nullptr)) - 30; });
  EXPECT_EQ(fetch(*recent.presigned_get("files/pre/expired", 60, "e.txt")).status, 200);
}

bool have_botocore() { return std::system("/usr/bin/python3 -c 'import botocore' 2>/dev/null") == 0; }

TEST_F(S3BlobStoreTest, SignaturesAsSentOnTheWireVerifyWithBotocoreAndAWrongSecretIsRefused) {
  if (!have_botocore()) GTEST_SKIP() << "python3-botocore not installed (scripts/setup installs it)";
  // s3rver does not verify SigV4; this proxy does, as S3 would (see s3rver_test_support.hpp).
  testing::SigV4CheckingProxy proxy(*server_, testing::S3rver::kSecret);
  auto config = server_->config();
  config.s3_endpoint = proxy.endpoint();
  S3BlobStore store(config);
  std::string bytes("signed\0body", 11);
  store.put("wire/a", write_file("w", bytes), "text/plain; charset=utf-8");
  for (int i = 0; i < 4; ++i) store.put("wire/p/" + std::to_string(i), write_file("w", "x"), "");
  ASSERT_TRUE(store.stat("wire/a"));
  store.get("wire/a", (dir_ / "wa").string());
  EXPECT_TRUE(read_file((dir_ / "wa").string()) == bytes);
  // Pages of 2 over 4 keys: continuation tokens (base64: '+', '/', '=') travel in the signed query.
  store.set_list_page_size(2);
  int listed = 0;
  store.list("wire/p/", [&](const BlobInfo&) { return ++listed, true; });
  EXPECT_EQ(listed, 4);
  store.remove("wire/p/0");
  EXPECT_FALSE(store.stat("wire/p/0"));

  config.secret_access_key = "not-the-secret";
  S3BlobStore wrong(config);
  try {
    wrong.put("wire/forged", write_file("f", "forged"), "");
    FAIL() << "put signed with a wrong secret succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch"), std::string::npos) << e.what();
  }
  EXPECT_THROW(wrong.get("wire/a", (dir_ / "wf").string()), std::runtime_error);
  EXPECT_THROW(wrong.remove("wire/a"), std::runtime_error);
  EXPECT_FALSE(store_->stat("wire/forged"));
  EXPECT_TRUE(store_->stat("wire/a"));
}

TEST_F(S3BlobStoreTest, UnknownCredentialsAndSkewedClocksAreRefusedWithTheS3ErrorCode) {
  // s3rver verifies the access key id but not SigV4 signatures (see s3rver_test_support.hpp):
  // a wrong *secret* is refused by the checking proxy (test above); a wrong key id by s3rver.
  auto config = server_->config();
  config.access_key_id = "NOTS3RVER";
  S3BlobStore wrong(config);
  try {
    wrong.put("files/denied", write_file("d", "d"), "");
    FAIL() << "put with an unknown access key succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("InvalidAccessKeyId"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HTTP 403"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store_->stat("files/denied"));
  // Header-signed requests more than 15 minutes off are refused (replay protection).
  S3BlobStore skewed(server_->config(), [] { return static_cast<int64_t>(std::time(nullptr)) - 3600; });
  try {
    skewed.put("files/skewed", write_file("s", "s"), "");
    FAIL() << "put with a skewed clock succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("RequestTimeTooSkewed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(skewed.get("files/skewed", (dir_ / "s").string()), std::runtime_error);
}

TEST_F(S3BlobStoreTest, KeysOutsideTheAlphabetAreRejectedBeforeAnyRequest) {
  std::string f = write_file("k", "k");
  for (const std::string& bad : std::vector<std::string>{"", "../etc/passwd", "a/../b", "UPPER", "sp ace", "semi;colon", "/abs", "q?x=1", "h#f",
                          "a//b", "dir/", "\xc3\xa9", std::string(257, 'a'), std::string("nul\0byte", 8)}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(store_->put(bad, f, ""), std::invalid_argument);
    EXPECT_THROW(store_->get(bad, (dir_ / "o").string()), std::invalid_argument);
    EXPECT_THROW(store_->stat(bad), std::invalid_argument);
    EXPECT_THROW(store_->remove(bad), std::invalid_argument);
    EXPECT_THROW(store_->presigned_get(bad, 60, "x"), std::invalid_argument);
  }
  EXPECT_THROW(store_->list("../", [](const BlobInfo&) { return true; }), std::invalid_argument);
  // The limit itself is fine (in segments: s3rver stores a key as a path, and a file name is at
  // most 255 bytes).
  std::string seg(63, 'a');
  std::string longest = seg + "/" + seg + "/" + seg + "/" + seg + "a";
  ASSERT_EQ(longest.size(), 256u);
  EXPECT_NO_THROW(store_->put(longest, f, ""));
  EXPECT_TRUE(store_->stat(longest));
  // Nothing escaped the bucket directory of s3rver.
  EXPECT_FALSE(fs::exists(fs::path(server_->dir()) / "etc"));
}

TEST_F(S3BlobStoreTest, BadConfigurationIsRefusedAtStartup) {
  auto c = server_->config();
  c.s3_endpoint = "ftp://127.0.0.1:1";
  EXPECT_THROW(S3BlobStore{c}, std::invalid_argument);
  c = server_->config();
  c.s3_endpoint = "http://127.0.0.1:1/some/path";
  EXPECT_THROW(S3BlobStore{c}, std::invalid_argument);
  c = server_->config();
  c.secret_access_key.clear();
  EXPECT_THROW(S3BlobStore{c}, std::invalid_argument);
  c = server_->config();
  c.s3_bucket = "Bad_Bucket";
  EXPECT_THROW(S3BlobStore{c}, std::invalid_argument);
}

TEST_F(S3BlobStoreTest, UnreachableStoreFailsWithinTheConnectTimeout) {
  auto c = server_->config();
  c.s3_endpoint = "http://127.0.0.1:" + std::to_string(taskhub::test_support::free_port());  // nobody listens
  S3BlobStore dead(c);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(dead.stat("files/x"), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(11));
}

TEST_F(S3BlobStoreTest, FactoryChoosesS3WhenABucketIsConfigured) {
  auto store = make_blob_store(server_->config());
  EXPECT_FALSE(store->local_path("files/x"));  // remote: the HTTP layer redirects instead
  store->put("files/factory", write_file("f", "via factory"), "text/plain");
  auto url = store->presigned_get("files/factory", 60, "f.txt");
  ASSERT_TRUE(url);
  EXPECT_EQ(fetch(*url).body, "via factory");
}

}  // namespace
}  // namespace taskhub::s3
