// Mailer tests: MIME construction, and real SMTP delivery to a local aiosmtpd server (skipped
// when /usr/bin/python3 cannot import aiosmtpd).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "adapters/test_ports.hpp"
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "adapters/smtp/mime.hpp"
#include "ports/mailer.hpp"

extern char** environ;

namespace taskhub {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- MIME (no server)

TEST(Mime, ParsesAddresses) {
  auto a = mail::parse_address("Taskhub Bot <bot@example.com>");
  EXPECT_EQ(a.display, "Taskhub Bot");
  EXPECT_EQ(a.addr, "bot@example.com");
  a = mail::parse_address("  plain@example.com ");
  EXPECT_EQ(a.display, "");
  EXPECT_EQ(a.addr, "plain@example.com");
  a = mail::parse_address("\"Doe, Jane\" <jane@example.com>");
  EXPECT_EQ(a.display, "Doe, Jane");
  EXPECT_EQ(mail::format_address(a), "\"Doe, Jane\" <jane@example.com>");
  EXPECT_THROW(mail::parse_address("x@example.com\r\nBcc: evil@example.com"), std::invalid_argument);
  EXPECT_THROW(mail::parse_address("not an address"), std::invalid_argument);
  EXPECT_THROW(mail::parse_address("a@b, c@d"), std::invalid_argument);
  EXPECT_THROW(mail::parse_address(""), std::invalid_argument);
}

TEST(Mime, EncodesNonAsciiHeaders) {
  EXPECT_EQ(mail::encode_header_value("Hello"), "Hello");
  EXPECT_EQ(mail::encode_header_value("Caf\xc3\xa9"), "=?UTF-8?B?Q2Fmw6k=?=");
  std::string long_subject;
  for (int i = 0; i < 40; ++i) long_subject += "\xc3\xa9";  // 80 bytes
  std::string enc = mail::encode_header_value(long_subject);
  std::istringstream lines(enc);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_LE(line.size(), 77u);
  }
  EXPECT_GE(n, 2);
  EXPECT_THROW(mail::encode_header_value("a\nb"), std::invalid_argument);
}

TEST(Mime, QuotedPrintable) {
  EXPECT_EQ(mail::quoted_printable("a=b\nc \nd\r\ne"), "a=3Db\r\nc=20\r\nd\r\ne");
  EXPECT_EQ(mail::quoted_printable("\xc3\xa9"), "=C3=A9");
  std::string qp = mail::quoted_printable(std::string(200, 'x') + "\n" + std::string(100, '\xff'));
  std::istringstream lines(qp);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    EXPECT_LE(line.size(), 76u) << line;
    if (line.size() > 2 && line[line.size() - 3] == '=') continue;
  }
}

TEST(Mime, Date) { EXPECT_EQ(mail::rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000"); }

TEST(Mime, BuildsMessageAndRejectsInjection) {
  EmailMessage m{"User <u@example.com>", "Hi", "Line 1\nLine 2", "", {{"List-Unsubscribe", "<https://x/u>"}}};
  std::string s = mail::build_message(m, mail::parse_address("Bot <bot@example.com>"), "id@example.com", 0);
  EXPECT_NE(s.find("From: Bot <bot@example.com>\r\n"), std::string::npos);
  EXPECT_NE(s.find("To: User <u@example.com>\r\n"), std::string::npos);
  EXPECT_NE(s.find("Message-ID: <id@example.com>\r\n"), std::string::npos);
  EXPECT_NE(s.find("List-Unsubscribe: <https://x/u>\r\n"), std::string::npos);
  EXPECT_NE(s.find("\r\n\r\nLine 1\r\nLine 2\r\n"), std::string::npos);
  EXPECT_EQ(s.find("\n\n"), std::string::npos);

  auto bad = m;
  bad.subject = "Hi\r\nBcc: victim@example.com";
  EXPECT_THROW(mail::build_message(bad, mail::parse_address("bot@example.com"), "id@x", 0), std::invalid_argument);
  bad = m;
  bad.headers = {{"X-Thing", "a\nb"}};
  EXPECT_THROW(mail::validate(bad), std::invalid_argument);
  bad.headers = {{"Bad Name", "v"}};
  EXPECT_THROW(mail::validate(bad), std::invalid_argument);
  bad.headers = {{"bcc", "v@example.com"}};
  EXPECT_THROW(mail::validate(bad), std::invalid_argument);
  bad = m;
  bad.to = "a@example.com\nX: y";
  EXPECT_THROW(mail::validate(bad), std::invalid_argument);
}

TEST(Mailer, LogAdapterAndBadUrls) {
  auto log = make_mailer("", "taskhub <no-reply@localhost>");
  EXPECT_NO_THROW(log->send({"u@example.com", "Hello", "Body \"quoted\"\nline 2", "", {}}));
  EXPECT_THROW(log->send({"u@example.com", "Hello\nBcc: x@y", "Body", "", {}}), std::invalid_argument);
  EXPECT_NO_THROW(make_mailer("log://", "x@y"));
  try {
    make_mailer("imap://user:hunter2@host", "x@y");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
  EXPECT_THROW(make_mailer("smtp://host:25?bogus=1", "x@y"), std::runtime_error);
  EXPECT_THROW(make_mailer("smtp://host:25", "not an address"), std::runtime_error);
}

// ---------------------------------------------------------------- real SMTP server

const char* kServerScript = R"PY(
import email, email.policy, json, os, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out = int(sys.argv[1]), sys.argv[2]

class Handler:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        base = os.path.join(out, "%03d" % Handler.n)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt": envelope.rcpt_tos,
            "subject": str(msg["Subject"]),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "message_id": str(msg["Message-ID"]),
            "date": str(msg["Date"]),
            "mime_version": str(msg["MIME-Version"]),
            "list_unsubscribe": str(msg.get("List-Unsubscribe")),
            "content_type": msg.get_content_type(),
            "text": plain.get_content().replace("\r\n", "\n") if plain is not None else None,
            "html": html.get_content().replace("\r\n", "\n") if html is not None and html is not plain else None,
            "auth": session.authenticated and session.auth_data.login.decode() or None,
            "crlf_only": b"\n" not in raw.replace(b"\r\n", b""),
        }
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".tmp", "w") as f:
            json.dump(summary, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alice" and auth_data.password == b"s3cret p@ss"
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)  # "535": without handled=False the server hangs

c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
c.start()
open(os.path.join(out, "ready"), "w").close()
while True:
    time.sleep(1)
)PY";

using taskhub::test_support::free_port;

bool wait_for(const fs::path& p, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(p)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fs::exists(p);
}

boost::json::object read_json(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str()).as_object();
}

class SmtpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "/usr/bin/python3 cannot import aiosmtpd (apt install python3-aiosmtpd)";
    std::string tmpl = (fs::temp_directory_path() / "taskhub-smtptest-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    {
      std::ofstream(dir_ / "server.py") << kServerScript;
    }
    port_ = free_port();
    std::string script = (dir_ / "server.py").string(), port = std::to_string(port_), out = dir_.string();
    std::string py = "/usr/bin/python3";
    char* argv[] = {py.data(), script.data(), port.data(), out.data(), nullptr};
    ASSERT_EQ(::posix_spawn(&pid_, "/usr/bin/python3", nullptr, nullptr, argv, environ), 0);
    ASSERT_TRUE(wait_for(dir_ / "ready", std::chrono::seconds(15))) << "aiosmtpd did not start";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  std::string url(const std::string& userinfo = "", const std::string& query = "") const {
    return "smtp://" + userinfo + "127.0.0.1:" + std::to_string(port_) + query;
  }

  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(SmtpServerTest, DeliversPlainTextMessage) {
  auto mailer = make_mailer(url(), "Taskhub Bot <bot@taskhub.test>");
  EmailMessage m;
  m.to = "Jos\xc3\xa9 <jose@example.com>";
  m.subject = "Caf\xc3\xa9 \xe2\x98\x95 reminder: your task is due";
  m.text_body = "Hello Jos\xc3\xa9,\n.hidden line starts with a dot\nA=B and a long line " + std::string(120, 'x') +
                "\ntrailing space \nbye";
  m.headers = {{"List-Unsubscribe", "<https://taskhub.test/unsubscribe?t=abc>"}};
  mailer->send(m);

  ASSERT_TRUE(wait_for(dir_ / "001.json", std::chrono::seconds(5)));
  auto j = read_json(dir_ / "001.json");
  EXPECT_EQ(j["mail_from"].as_string(), "bot@taskhub.test");
  ASSERT_EQ(j["rcpt"].as_array().size(), 1u);
  EXPECT_EQ(j["rcpt"].as_array()[0].as_string(), "jose@example.com");
  EXPECT_EQ(j["subject"].as_string(), m.subject);
  EXPECT_EQ(j["from"].as_string(), "Taskhub Bot <bot@taskhub.test>");
  EXPECT_EQ(j["to"].as_string(), m.to);
  EXPECT_EQ(j["mime_version"].as_string(), "1.0");
  EXPECT_EQ(j["content_type"].as_string(), "text/plain");
  EXPECT_EQ(j["list_unsubscribe"].as_string(), "<https://taskhub.test/unsubscribe?t=abc>");
  std::string mid(j["message_id"].as_string());
  EXPECT_EQ(mid.front(), '<');
  EXPECT_NE(mid.find("@taskhub.test>"), std::string::npos);
  EXPECT_FALSE(j["date"].as_string().empty());
  EXPECT_TRUE(j["crlf_only"].as_bool());
  // (line ends normalised to LF by the server script)
  std::string expected = m.text_body + "\n";
  EXPECT_EQ(j["text"].as_string(), expected);
  EXPECT_TRUE(j["auth"].is_null());
}

TEST_F(SmtpServerTest, DeliversMultipartWithCredentials) {
  auto mailer = make_mailer(url("alice:s3cret%20p%40ss@"), "bot@taskhub.test");
  EmailMessage m{"bob@example.com", "Digest", "Plain version", "<p>HTML <b>version</b></p>", {}};
  mailer->send(m);
  ASSERT_TRUE(wait_for(dir_ / "001.json", std::chrono::seconds(5)));
  auto j = read_json(dir_ / "001.json");
  EXPECT_EQ(j["content_type"].as_string(), "multipart/alternative");
  EXPECT_EQ(j["text"].as_string(), "Plain version");  // the CRLF before a boundary belongs to it
  EXPECT_EQ(j["html"].as_string(), "<p>HTML <b>version</b></p>");
  EXPECT_EQ(j["auth"].as_string(), "alice");
}

TEST_F(SmtpServerTest, ReportsFailures) {
  // Wrong password.
  EXPECT_THROW(make_mailer(url("alice:wrong@"), "bot@taskhub.test")->send({"b@example.com", "s", "t", "", {}}),
               std::runtime_error);
  // The server offers no STARTTLS: required TLS must fail, optional TLS must not.
  EXPECT_THROW(make_mailer(url("", "?starttls=required"), "bot@taskhub.test")->send({"b@example.com", "s", "t", "", {}}),
               std::runtime_error);
  EXPECT_NO_THROW(make_mailer(url(), "bot@taskhub.test")->send({"b@example.com", "s", "t", "", {}}));
  // Nobody listening.
  auto closed = make_mailer("smtp://127.0.0.1:" + std::to_string(free_port()), "bot@taskhub.test");
  EXPECT_THROW(closed->send({"b@example.com", "s", "t", "", {}}), std::runtime_error);
  // Header injection never reaches the server.
  EXPECT_THROW(make_mailer(url(), "bot@taskhub.test")->send({"b@example.com\r\nRCPT TO:<x@y>", "s", "t", "", {}}),
               std::invalid_argument);
}

}  // namespace
}  // namespace taskhub
