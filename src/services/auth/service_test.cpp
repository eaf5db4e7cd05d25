// AuthService against a real database: SQLite in memory (and PostgreSQL when
// TASKHUB_TEST_POSTGRES_URL is set), a ManualClock and a mailer that records messages.
#include "services/auth/service.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <mutex>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "ports/migrations.hpp"

namespace taskhub::auth {
namespace {

class RecordingMailer final : public Mailer {
 public:
  void send(const EmailMessage& msg) override {
    std::lock_guard lock(mu_);
    sent_.push_back(msg);
  }
  std::vector<EmailMessage> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  std::mutex mu_;
  std::vector<EmailMessage> sent_;
};

// Runs fn and checks it throws ApiError with this status and code; returns the error.
ApiError expect_error(const std::function<void()>& fn, int status, const std::string& code) {
  try {
    fn();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.detail();
    EXPECT_EQ(e.code(), code) << e.detail();
    return e;
  }
  ADD_FAILURE() << "expected ApiError " << status << " " << code;
  return ApiError(0, "", "");
}

std::string header_of(const ApiError& e, const std::string& name) {
  for (const auto& [k, v] : e.headers())
    if (k == name) return v;
  return "";
}

bool has_field(const ApiError& e, const std::string& field) {
  for (const auto& f : e.errors())
    if (f.field == field) return true;
  return false;
}

const ClientInfo kClient{"unit-test/1.0", "192.0.2.1"};
const std::string kPassword = "correct horse battery";

class AuthServiceTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    opt_.jwt_secret = "service-test-secret-0123456789abcdef0123";
    opt_.hash_params = HashParams{1, 8 * 1024};  // cheap: these tests are about rules, not cost
    opt_.hash_threads = 2;
    opt_.public_url = "https://tasks.example.com";
    opt_.login_ip_max_attempts = 1000;
  }
  void TearDown() override {
    svc_.reset();
    SqlBackendTest::TearDown();
  }

  AuthService& svc() {
    if (!svc_) svc_ = std::make_unique<AuthService>(db(), &mailer_, clock_, opt_);
    return *svc_;
  }

  User add_user(const std::string& email, const std::string& password = kPassword, const std::string& name = "U") {
    RegisterInput in;
    in.email = email;
    in.password = password;
    in.display_name = name;
    return svc().register_user(in);
  }

  Principal principal_of(const TokenPair& p) {
    auto pr = svc().authenticate(p.access.token);
    EXPECT_TRUE(pr.has_value());
    return pr.value_or(Principal{});
  }

  AuthOptions opt_;
  ManualClock clock_;
  RecordingMailer mailer_;
  std::unique_ptr<AuthService> svc_;
};

// ---------------------------------------------------------------- e-mail addresses

TEST(AuthEmail, Normalisation) {
  EXPECT_EQ(normalize_email("  Alice@Example.COM \n").value_or(""), "alice@example.com");
  EXPECT_TRUE(normalize_email("a.b+tag@sub.example.org").has_value());
  for (const char* bad : {"", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a@b@c.com", "a b@c.com",
                          "a@.com", "a@com.", "a@b..com", "a\x01@b.com", "a@b.com\x7f"})
    EXPECT_FALSE(normalize_email(bad).has_value()) << bad;
  EXPECT_FALSE(normalize_email(std::string(250, 'a') + "@b.com").has_value());
}

TEST(AuthTimezone, Validation) {
  EXPECT_TRUE(valid_timezone("UTC"));
  EXPECT_TRUE(valid_timezone("Europe/Berlin"));
  EXPECT_FALSE(valid_timezone(""));
  EXPECT_FALSE(valid_timezone("../../etc/passwd"));
  EXPECT_FALSE(valid_timezone("Europe/"));
  EXPECT_FALSE(valid_timezone("/etc"));
  EXPECT_FALSE(valid_timezone("Not A Zone"));
}

// ---------------------------------------------------------------- registration

TEST_P(AuthServiceTest, RegisterNormalisesAndRefusesDuplicatesCaseInsensitively) {
  User a = add_user("  Alice@Example.COM ");
  EXPECT_EQ(a.email, "alice@example.com");
  EXPECT_TRUE(a.is_active);
  EXPECT_EQ(a.timezone, "UTC");
  auto e = expect_error([&] { add_user("ALICE@example.com"); }, 409, "email-taken");
  EXPECT_TRUE(has_field(e, "email"));
}

TEST_P(AuthServiceTest, FirstAccountBecomesAdmin) {
  EXPECT_TRUE(add_user("first@example.com").is_admin);
  EXPECT_FALSE(add_user("second@example.com").is_admin);
}

TEST_P(AuthServiceTest, RegisterValidatesEveryField) {
  RegisterInput in;
  in.email = "not-an-address";
  in.password = "short";
  in.display_name = "   ";
  in.timezone = "Mars/Olympus";
  auto e = expect_error([&] { svc().register_user(in); }, 400, "validation-error");
  EXPECT_TRUE(has_field(e, "email"));
  EXPECT_TRUE(has_field(e, "password"));
  EXPECT_TRUE(has_field(e, "display_name"));
  EXPECT_TRUE(has_field(e, "timezone"));
}

TEST_P(AuthServiceTest, RegistrationClosed) {
  opt_.registration_open = false;
  expect_error([&] { add_user("a@example.com"); }, 403, "registration-closed");
  RegisterInput in{"a@example.com", kPassword, "A", std::nullopt, false, true};  // the CLI may
  EXPECT_TRUE(svc().register_user(in).is_admin);
}

// ---------------------------------------------------------------- login

TEST_P(AuthServiceTest, LoginOkAndBad) {
  User u = add_user("bob@example.com");
  TokenPair p = svc().login("BOB@example.com", kPassword, kClient);
  EXPECT_EQ(p.user.id, u.id);
  EXPECT_EQ(p.access.expires_in, 900);
  EXPECT_EQ(p.refresh_expires_in, 30 * 24 * 3600);
  EXPECT_EQ(p.refresh_token.rfind("thr_", 0), 0u);
  Principal pr = principal_of(p);
  EXPECT_EQ(pr.user_id, u.id);
  EXPECT_EQ(pr.kind, CredentialKind::access_token);
  EXPECT_TRUE(pr.can_write);
  EXPECT_FALSE(pr.session_id.empty());

  expect_error([&] { svc().login("bob@example.com", "wrong password", kClient); }, 401, "invalid-credentials");
  expect_error([&] { svc().login("nobody@example.com", kPassword, kClient); }, 401, "invalid-credentials");
  expect_error([&] { svc().login("not an email", kPassword, kClient); }, 401, "invalid-credentials");
}

TEST_P(AuthServiceTest, AccessTokenExpires) {
  add_user("bob@example.com");
  TokenPair p = svc().login("bob@example.com", kPassword, kClient);
  clock_.advance_ms(899'000);
  EXPECT_TRUE(svc().authenticate(p.access.token).has_value());
  clock_.advance_ms(1'000);
  EXPECT_FALSE(svc().authenticate(p.access.token).has_value());
  EXPECT_FALSE(svc().authenticate("").has_value());
  EXPECT_FALSE(svc().authenticate("garbage").has_value());
  EXPECT_FALSE(svc().authenticate("thp_unknown").has_value());
}

TEST_P(AuthServiceTest, AccountThrottlingAfterTenFailuresAndReleaseAfterWindow) {
  add_user("carol@example.com");
  const int64_t start = clock_.now_ms();
  for (int i = 0; i < 10; ++i) {
    expect_error([&] { svc().login("carol@example.com", "wrong password", kClient); }, 401, "invalid-credentials");
    clock_.advance_ms(1000);
  }
  // Even the right password is refused while throttled; Retry-After counts down to the
  // moment the oldest failure leaves the 900 s window.
  auto e = expect_error([&] { svc().login("carol@example.com", kPassword, kClient); }, 429, "rate-limited");
  int64_t elapsed_s = (clock_.now_ms() - start) / 1000;  // 10
  EXPECT_EQ(header_of(e, "Retry-After"), std::to_string(900 - elapsed_s));
  // The throttle is per account: another account is unaffected.
  add_user("dave@example.com");
  EXPECT_NO_THROW(svc().login("dave@example.com", kPassword, kClient));

  clock_.advance_ms((900 - elapsed_s) * 1000 - 1);
  expect_error([&] { svc().login("carol@example.com", kPassword, kClient); }, 429, "rate-limited");
  clock_.advance_ms(1);
  EXPECT_NO_THROW(svc().login("carol@example.com", kPassword, kClient));
  // Success cleared the counter.
  for (int i = 0; i < 9; ++i)
    expect_error([&] { svc().login("carol@example.com", "nope nope", kClient); }, 401, "invalid-credentials");
  EXPECT_NO_THROW(svc().login("carol@example.com", kPassword, kClient));
}

TEST_P(AuthServiceTest, UnknownAddressesAreThrottledLikeKnownOnes) {
  for (int i = 0; i < 10; ++i)
    expect_error([&] { svc().login("ghost@example.com", kPassword, kClient); }, 401, "invalid-credentials");
  expect_error([&] { svc().login("ghost@example.com", kPassword, kClient); }, 429, "rate-limited");
}

TEST_P(AuthServiceTest, PerIpThrottling) {
  opt_.login_ip_max_attempts = 3;
  add_user("erin@example.com");
  for (int i = 0; i < 3; ++i)
    expect_error([&] { svc().login("x@example.com", "whatever1", kClient); }, 401, "invalid-credentials");
  auto e = expect_error([&] { svc().login("erin@example.com", kPassword, kClient); }, 429, "rate-limited");
  EXPECT_EQ(header_of(e, "Retry-After"), "900");
  EXPECT_NO_THROW(svc().login("erin@example.com", kPassword, ClientInfo{"ua", "198.51.100.7"}));
  clock_.advance_ms(900'000);
  EXPECT_NO_THROW(svc().login("erin@example.com", kPassword, kClient));
}

TEST_P(AuthServiceTest, DeactivatedAccountsCannotLogIn) {
  User admin = add_user("admin@example.com");
  User u = add_user("frank@example.com");
  Principal ap = principal_of(svc().login("admin@example.com", kPassword, kClient));
  svc().admin_set_active(ap, u.id, false);
  expect_error([&] { svc().login("frank@example.com", kPassword, kClient); }, 401, "invalid-credentials");
  (void)admin;
}

TEST_P(AuthServiceTest, LoginRehashesOldHashes) {
  add_user("gina@example.com");
  auto stored = [&] {
    return db().read_value([&](sql::Connection& c) { return repo::find_user_by_email(c, "gina@example.com"); })
        ->password_hash;
  };
  std::string before = stored();
  EXPECT_NE(before.find("m=8,t=1"), std::string::npos) << before;
  AuthOptions stronger = opt_;
  stronger.hash_params = HashParams{2, 16 * 1024};
  AuthService upgraded(db(), &mailer_, clock_, stronger);
  upgraded.login("gina@example.com", kPassword, kClient);
  std::string after = stored();
  EXPECT_NE(after.find("m=16,t=2"), std::string::npos) << after;
  EXPECT_NO_THROW(upgraded.login("gina@example.com", kPassword, kClient));
}

// ---------------------------------------------------------------- refresh, logout

TEST_P(AuthServiceTest, RefreshRotatesAndReuseRevokesTheFamily) {
  add_user("hal@example.com");
  TokenPair first = svc().login("hal@example.com", kPassword, kClient);
  clock_.advance_ms(5000);
  TokenPair second = svc().refresh(first.refresh_token, kClient);
  EXPECT_NE(second.refresh_token, first.refresh_token);
  Principal p1 = principal_of(first), p2 = principal_of(second);
  EXPECT_EQ(p1.session_id, p2.session_id);  // same family

  // The rotated token comes back: someone has a copy. The whole family ends.
  expect_error([&] { svc().refresh(first.refresh_token, kClient); }, 401, "invalid-token");
  expect_error([&] { svc().refresh(second.refresh_token, kClient); }, 401, "invalid-token");
  EXPECT_FALSE(svc().authenticate(second.access.token).has_value());
  EXPECT_FALSE(svc().authenticate(first.access.token).has_value());

  expect_error([&] { svc().refresh("thr_unknown", kClient); }, 401, "invalid-token");
  expect_error([&] { svc().refresh("", kClient); }, 401, "invalid-token");
}

TEST_P(AuthServiceTest, RefreshChainKeepsWorking) {
  add_user("ivy@example.com");
  TokenPair p = svc().login("ivy@example.com", kPassword, kClient);
  for (int i = 0; i < 5; ++i) {
    clock_.advance_ms(24 * 3600 * 1000LL);
    p = svc().refresh(p.refresh_token, kClient);
    EXPECT_TRUE(svc().authenticate(p.access.token).has_value());
  }
  // An idle session expires after the refresh lifetime.
  clock_.advance_ms(31 * 24 * 3600 * 1000LL);
  expect_error([&] { svc().refresh(p.refresh_token, kClient); }, 401, "invalid-token");
}

TEST_P(AuthServiceTest, LogoutRevokesTheSession) {
  add_user("jay@example.com");
  TokenPair a = svc().login("jay@example.com", kPassword, kClient);
  TokenPair b = svc().login("jay@example.com", kPassword, kClient);
  svc().logout(a.refresh_token);
  EXPECT_FALSE(svc().authenticate(a.access.token).has_value());
  expect_error([&] { svc().refresh(a.refresh_token, kClient); }, 401, "invalid-token");
  EXPECT_TRUE(svc().authenticate(b.access.token).has_value());  // other session untouched
  EXPECT_NO_THROW(svc().logout(a.refresh_token));               // again: no error, no oracle
  EXPECT_NO_THROW(svc().logout("thr_never_issued"));
  EXPECT_NO_THROW(svc().logout("garbage"));
}

TEST_P(AuthServiceTest, LogoutAllEndsEverySession) {
  add_user("kim@example.com");
  TokenPair a = svc().login("kim@example.com", kPassword, kClient);
  TokenPair b = svc().login("kim@example.com", kPassword, kClient);
  svc().logout_all(principal_of(a));
  EXPECT_FALSE(svc().authenticate(a.access.token).has_value());
  EXPECT_FALSE(svc().authenticate(b.access.token).has_value());
  expect_error([&] { svc().refresh(b.refresh_token, kClient); }, 401, "invalid-token");
  TokenPair c = svc().login("kim@example.com", kPassword, kClient);
  EXPECT_TRUE(svc().authenticate(c.access.token).has_value());
}

// ---------------------------------------------------------------- passwords

TEST_P(AuthServiceTest, ChangePasswordKeepsOnlyTheCallingSession) {
  add_user("lee@example.com");
  TokenPair a = svc().login("lee@example.com", kPassword, kClient);
  TokenPair b = svc().login("lee@example.com", kPassword, kClient);
  Principal pa = principal_of(a);

  auto e = expect_error([&] { svc().change_password(pa, "not the password", "brand new password"); }, 400,
                        "invalid-password");
  EXPECT_TRUE(has_field(e, "current_password"));
  expect_error([&] { svc().change_password(pa, kPassword, "short"); }, 400, "validation-error");

  AccessToken fresh = svc().change_password(pa, kPassword, "brand new password");
  auto fp = svc().authenticate(fresh.token);
  ASSERT_TRUE(fp.has_value());
  EXPECT_EQ(fp->session_id, pa.session_id);
  EXPECT_FALSE(svc().authenticate(a.access.token).has_value());  // old token of the caller
  EXPECT_FALSE(svc().authenticate(b.access.token).has_value());  // other session
  expect_error([&] { svc().refresh(b.refresh_token, kClient); }, 401, "invalid-token");
  TokenPair a2 = svc().refresh(a.refresh_token, kClient);  // the caller's session lives on
  EXPECT_TRUE(svc().authenticate(a2.access.token).has_value());

  expect_error([&] { svc().login("lee@example.com", kPassword, kClient); }, 401, "invalid-credentials");
  EXPECT_NO_THROW(svc().login("lee@example.com", "brand new password", kClient));
}

std::string token_from_link(const std::string& body, const std::string& prefix) {
  auto pos = body.find(prefix);
  if (pos == std::string::npos) return "";
  pos += prefix.size();
  auto end = body.find_first_of(" \r\n", pos);
  return body.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

TEST_P(AuthServiceTest, PasswordResetIsSingleUseAndRevokesSessions) {
  add_user("max@example.com", kPassword, "Max");
  TokenPair before = svc().login("max@example.com", kPassword, kClient);

  svc().request_password_reset("Max@Example.com", kClient);
  EXPECT_TRUE(mailer_.sent().empty());  // sent in the background, not on the request path
  svc().run_background_jobs();
  auto sent = mailer_.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "max@example.com");
  const std::string prefix = "https://tasks.example.com/reset-password?token=";
  std::string token = token_from_link(sent[0].text_body, prefix);
  ASSERT_FALSE(token.empty()) << sent[0].text_body;

  // The token is stored hashed.
  auto stored = db().read_value([&](sql::Connection& c) {
    return c.query("SELECT token_hash FROM password_resets").first()->str(0);
  });
  EXPECT_EQ(stored, sha256_hex(token));

  auto e = expect_error([&] { svc().confirm_password_reset("wrong-token", "another password 1"); }, 400,
                        "invalid-token");
  EXPECT_TRUE(has_field(e, "token"));
  svc().confirm_password_reset(token, "another password 1");
  EXPECT_FALSE(svc().authenticate(before.access.token).has_value());
  expect_error([&] { svc().refresh(before.refresh_token, kClient); }, 401, "invalid-token");
  expect_error([&] { svc().confirm_password_reset(token, "yet another one 2"); }, 400, "invalid-token");
  EXPECT_NO_THROW(svc().login("max@example.com", "another password 1", kClient));
  expect_error([&] { svc().login("max@example.com", kPassword, kClient); }, 401, "invalid-credentials");
}

TEST_P(AuthServiceTest, PasswordResetExpiresAfterThirtyMinutes) {
  add_user("ned@example.com");
  svc().request_password_reset("ned@example.com", kClient);
  svc().run_background_jobs();
  std::string token = token_from_link(mailer_.sent().at(0).text_body, "/reset-password?token=");
  clock_.advance_ms(30 * 60 * 1000);
  expect_error([&] { svc().confirm_password_reset(token, "another password 1"); }, 400, "invalid-token");
}

TEST_P(AuthServiceTest, PasswordResetForUnknownAddressSendsNothing) {
  EXPECT_NO_THROW(svc().request_password_reset("nobody@example.com", kClient));
  svc().run_background_jobs();
  EXPECT_TRUE(mailer_.sent().empty());
  expect_error([&] { svc().request_password_reset("not-an-address", kClient); }, 400, "validation-error");
}

TEST_P(AuthServiceTest, PasswordResetRequestsAreRateLimited) {
  for (int i = 0; i < opt_.reset_max_per_email; ++i) svc().request_password_reset("olga@example.com", kClient);
  expect_error([&] { svc().request_password_reset("olga@example.com", kClient); }, 429, "rate-limited");
}

// ---------------------------------------------------------------- sessions

TEST_P(AuthServiceTest, SessionsListAndRevoke) {
  add_user("pat@example.com");
  add_user("quinn@example.com");
  TokenPair a = svc().login("pat@example.com", kPassword, ClientInfo{"Browser A", "203.0.113.1"});
  clock_.advance_ms(1000);
  TokenPair b = svc().login("pat@example.com", kPassword, ClientInfo{"Browser B\x01", "203.0.113.2"});
  Principal pb = principal_of(b);
  auto list = svc().list_sessions(pb);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, pb.session_id);  // newest first
  EXPECT_TRUE(list[0].current);
  EXPECT_FALSE(list[1].current);
  EXPECT_EQ(list[0].user_agent, "Browser B?");
  EXPECT_EQ(list[1].ip, "203.0.113.1");

  Principal other = principal_of(svc().login("quinn@example.com", kPassword, kClient));
  expect_error([&] { svc().revoke_session(other, list[1].id); }, 404, "not-found");
  expect_error([&] { svc().revoke_session(pb, "not-a-uuid"); }, 404, "not-found");
  svc().revoke_session(pb, list[1].id);
  EXPECT_FALSE(svc().authenticate(a.access.token).has_value());
  expect_error([&] { svc().revoke_session(pb, list[1].id); }, 404, "not-found");  // already revoked
  EXPECT_EQ(svc().list_sessions(pb).size(), 1u);
}

// ---------------------------------------------------------------- API tokens

TEST_P(AuthServiceTest, ApiTokensScopeListRevoke) {
  User u = add_user("rae@example.com");
  Principal p = principal_of(svc().login("rae@example.com", kPassword, kClient));

  ApiTokenInfo ro = svc().create_api_token(p, "ci read", "read", std::nullopt);
  ApiTokenInfo rw = svc().create_api_token(p, "deploy", "read-write", 30);
  EXPECT_EQ(ro.token.rfind("thp_", 0), 0u);
  EXPECT_EQ(ro.token.substr(0, ro.token_prefix.size()), ro.token_prefix);
  EXPECT_FALSE(ro.expires_at.has_value());
  EXPECT_EQ(*rw.expires_at, clock_.now_ms() + 30 * 86'400'000LL);

  auto pro = svc().authenticate(ro.token);
  ASSERT_TRUE(pro.has_value());
  EXPECT_EQ(pro->user_id, u.id);
  EXPECT_EQ(pro->kind, CredentialKind::api_token);
  EXPECT_FALSE(pro->can_write);
  EXPECT_EQ(pro->token_id, ro.id);
  auto prw = svc().authenticate(rw.token);
  ASSERT_TRUE(prw.has_value());
  EXPECT_TRUE(prw->can_write);

  // API tokens cannot mint API tokens or change the password; they may list them.
  expect_error([&] { svc().create_api_token(*prw, "x", "read", std::nullopt); }, 403, "forbidden");
  EXPECT_EQ(svc().list_api_tokens(*pro).size(), 2u);
  expect_error([&] { svc().change_password(*prw, kPassword, "something else 1"); }, 403, "forbidden");

  auto list = svc().list_api_tokens(p);
  ASSERT_EQ(list.size(), 2u);
  for (const auto& t : list) EXPECT_TRUE(t.token.empty());
  // last_used_at is written at most once a minute.
  auto last_used = [&](const std::string& id) {
    for (const auto& t : svc().list_api_tokens(p))
      if (t.id == id) return t.last_used_at;
    return std::optional<int64_t>();
  };
  int64_t first_use = *last_used(ro.id);
  clock_.advance_ms(30'000);
  svc().authenticate(ro.token);
  EXPECT_EQ(*last_used(ro.id), first_use);
  clock_.advance_ms(31'000);
  svc().authenticate(ro.token);
  EXPECT_EQ(*last_used(ro.id), clock_.now_ms());

  User other = add_user("sam@example.com");
  Principal po = principal_of(svc().login("sam@example.com", kPassword, kClient));
  expect_error([&] { svc().revoke_api_token(po, ro.id); }, 404, "not-found");
  svc().revoke_api_token(p, ro.id);
  EXPECT_FALSE(svc().authenticate(ro.token).has_value());
  EXPECT_EQ(svc().list_api_tokens(p).size(), 1u);
  (void)other;

  expect_error([&] { svc().create_api_token(p, "", "read", std::nullopt); }, 400, "validation-error");
  expect_error([&] { svc().create_api_token(p, "n", "admin", std::nullopt); }, 400, "validation-error");
  expect_error([&] { svc().create_api_token(p, "n", "read", 0); }, 400, "validation-error");

  clock_.advance_ms(31 * 86'400'000LL);
  EXPECT_FALSE(svc().authenticate(rw.token).has_value());  // expired
}

// ---------------------------------------------------------------- administration

TEST_P(AuthServiceTest, DeactivateBlocksTokensImmediately) {
  add_user("admin@example.com");
  User u = add_user("tom@example.com");
  Principal admin = principal_of(svc().login("admin@example.com", kPassword, kClient));
  TokenPair tp = svc().login("tom@example.com", kPassword, kClient);
  ApiTokenInfo api = svc().create_api_token(principal_of(tp), "t", "read-write", std::nullopt);
  ASSERT_TRUE(svc().authenticate(api.token).has_value());

  Principal user_p = principal_of(tp);
  expect_error([&] { svc().admin_set_active(user_p, admin.user_id, false); }, 403, "forbidden");
  expect_error([&] { svc().admin_set_active(admin, admin.user_id, false); }, 400, "cannot-deactivate-self");
  expect_error([&] { svc().admin_set_active(admin, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", false); }, 404,
               "not-found");

  User off = svc().admin_set_active(admin, u.id, false);
  EXPECT_FALSE(off.is_active);
  EXPECT_FALSE(svc().authenticate(tp.access.token).has_value());
  EXPECT_FALSE(svc().authenticate(api.token).has_value());
  expect_error([&] { svc().refresh(tp.refresh_token, kClient); }, 401, "invalid-token");

  User on = svc().admin_set_active(admin, u.id, true);
  EXPECT_TRUE(on.is_active);
  EXPECT_NO_THROW(svc().login("tom@example.com", kPassword, kClient));
  EXPECT_FALSE(svc().authenticate(tp.access.token).has_value());  // sessions stay revoked
}

// Long-lived streams re-check the principal they were opened with (realtime).
TEST_P(AuthServiceTest, StillValidFollowsExpiryLogoutRevocationAndDeactivation) {
  add_user("admin@example.com");
  User u = add_user("val@example.com");
  Principal admin = principal_of(svc().login("admin@example.com", kPassword, kClient));
  TokenPair a = svc().login("val@example.com", kPassword, kClient);
  TokenPair b = svc().login("val@example.com", kPassword, kClient);
  Principal pa = *svc().authenticate(a.access.token), pb = *svc().authenticate(b.access.token);
  EXPECT_EQ(pa.expires_at_ms, (clock_.now_ms() / 1000 + a.access.expires_in) * 1000);
  ApiTokenInfo keep = svc().create_api_token(pa, "keep", "read", std::nullopt);
  ApiTokenInfo drop = svc().create_api_token(pa, "drop", "read", 1);
  Principal pkeep = *svc().authenticate(keep.token), pdrop = *svc().authenticate(drop.token);
  EXPECT_EQ(pkeep.expires_at_ms, 0);
  EXPECT_EQ(pdrop.expires_at_ms, clock_.now_ms() + 86'400'000LL);
  for (const auto* p : {&pa, &pb, &pkeep, &pdrop}) EXPECT_TRUE(svc().still_valid(*p));

  svc().logout(a.refresh_token);  // a's session ends; b's does not
  EXPECT_FALSE(svc().still_valid(pa));
  EXPECT_TRUE(svc().still_valid(pb));
  svc().revoke_api_token(pb, drop.id);
  EXPECT_FALSE(svc().still_valid(pdrop));
  EXPECT_TRUE(svc().still_valid(pkeep));

  Principal late = pb;
  late.expires_at_ms = clock_.now_ms();
  EXPECT_FALSE(svc().still_valid(late));

  svc().admin_set_active(admin, u.id, false);
  EXPECT_FALSE(svc().still_valid(pb));
  EXPECT_FALSE(svc().still_valid(pkeep));
}

TEST_P(AuthServiceTest, AdminListPaginatesById) {
  add_user("admin@example.com");
  for (int i = 0; i < 4; ++i) add_user("user" + std::to_string(i) + "@example.com");
  Principal admin = principal_of(svc().login("admin@example.com", kPassword, kClient));
  std::vector<std::string> seen;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    UserPage page = svc().admin_list_users(admin, 2, cursor);
    for (auto& u : page.items) seen.push_back(u.id);
    cursor = page.next_cursor;
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  expect_error([&] { svc().admin_list_users(admin, 0, std::nullopt); }, 400, "validation-error");
  expect_error([&] { svc().admin_list_users(admin, 10, std::string("bogus")); }, 400, "validation-error");
  Principal plain = principal_of(svc().login("user0@example.com", kPassword, kClient));
  expect_error([&] { svc().admin_list_users(plain, 10, std::nullopt); }, 403, "forbidden");
}

TEST_P(AuthServiceTest, ProfileUpdate) {
  add_user("uma@example.com");
  Principal p = principal_of(svc().login("uma@example.com", kPassword, kClient));
  clock_.advance_ms(1000);
  User u = svc().update_profile(p, std::string("Uma T."), std::string("Europe/Berlin"));
  EXPECT_EQ(u.display_name, "Uma T.");
  EXPECT_EQ(u.timezone, "Europe/Berlin");
  EXPECT_EQ(u.updated_at, clock_.now_ms());
  expect_error([&] { svc().update_profile(p, std::string(""), std::nullopt); }, 400, "validation-error");
  expect_error([&] { svc().update_profile(p, std::nullopt, std::string("Nowhere/Land")); }, 400, "validation-error");
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthServiceTest, ::testing::Values("sqlite-memory", "postgres"),
                         ::taskhub::sql::testing::backend_name);

}  // namespace
}  // namespace taskhub::auth
