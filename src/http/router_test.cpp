#include "http/router.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <stdexcept>

using namespace taskhub::http;

namespace {

Handler tag(std::string name) {
  return [name](Request&) { return Response::text(200, name); };
}

std::string call(const RouteMatch& m) {
  Request r;
  return m.route ? m.route->handler(r).body : "";
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST(Router, MatchesLiteralAndParams) {
  Router r;
  r.add("GET", "/api/v1/users/{id}", tag("user"));
  r.add("GET", "/api/v1/users/me", tag("me"));
  r.add("GET", "/api/v1/users/{id}/tokens/{token_id}", tag("token"));
  r.add("GET", "/", tag("root"));

  auto m = r.match("GET", "/api/v1/users/me");
  EXPECT_EQ(call(m), "me");
  EXPECT_TRUE(m.params.empty());

  m = r.match("GET", "/api/v1/users/42");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "user");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "42");

  m = r.match("GET", "/api/v1/users/me/tokens/7");
  EXPECT_EQ(call(m), "token");  // backtracks from the literal "me" to {id}
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].second, "me");
  EXPECT_EQ(m.params[1].first, "token_id");
  EXPECT_EQ(m.params[1].second, "7");

  EXPECT_EQ(call(r.match("GET", "/")), "root");
  EXPECT_EQ(r.routes().size(), 4u);
}

TEST(Router, DifferentParamNamesAtSamePosition) {
  Router r;
  r.add("GET", "/w/{id}", tag("w"));
  r.add("GET", "/w/{workspace_id}/projects", tag("p"));
  auto m = r.match("GET", "/w/abc/projects");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at(0).first, "workspace_id");
  m = r.match("GET", "/w/abc");
  EXPECT_EQ(m.params.at(0).first, "id");
}

TEST(Router, UnknownPathIsEmpty) {
  Router r;
  r.add("GET", "/a/{id}", tag("a"));
  auto m = r.match("GET", "/b");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.allowed.empty());
  EXPECT_TRUE(r.match("GET", "/a").allowed.empty());
  EXPECT_TRUE(r.match("GET", "/a/").allowed.empty());  // empty segment is not a parameter
  EXPECT_TRUE(r.match("GET", "/a/1/2").allowed.empty());
  EXPECT_TRUE(r.match("GET", "").allowed.empty());
  EXPECT_TRUE(r.match("GET", "a/1").allowed.empty());
}

TEST(Router, MethodNotAllowedListsMethods) {
  Router r;
  r.add("GET", "/items", tag("list"));
  r.add("POST", "/items", tag("create"));
  auto m = r.match("DELETE", "/items");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(has(m.allowed, "GET"));
  EXPECT_TRUE(has(m.allowed, "POST"));
  EXPECT_TRUE(has(m.allowed, "HEAD"));
  EXPECT_TRUE(has(m.allowed, "OPTIONS"));
  EXPECT_EQ(m.allowed.size(), 4u);

  r.add("PUT", "/only-put", tag("put"));
  m = r.match("GET", "/only-put");
  EXPECT_FALSE(has(m.allowed, "HEAD"));
  EXPECT_TRUE(has(m.allowed, "OPTIONS"));
}

TEST(Router, HeadUsesGet) {
  Router r;
  r.add("GET", "/x", tag("get"));
  auto m = r.match("HEAD", "/x");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->method, "GET");
}

TEST(Router, DuplicateThrows) {
  Router r;
  r.add("GET", "/x/{id}", tag("a"));
  EXPECT_THROW(r.add("GET", "/x/{id}", tag("b")), std::logic_error);
  EXPECT_THROW(r.add("GET", "/x/{other}", tag("b")), std::logic_error);  // same shape
  EXPECT_NO_THROW(r.add("POST", "/x/{id}", tag("c")));
  EXPECT_THROW(r.add("GET", "no-slash", tag("d")), std::logic_error);
  EXPECT_THROW(r.add("GET", "/x/a{id}", tag("d")), std::logic_error);
}

TEST(Router, MaxBodyFor) {
  Router r;
  RouteOptions big;
  big.max_body = 10 << 20;
  r.add("POST", "/upload", tag("u"), big);
  r.add("GET", "/upload", tag("g"));
  EXPECT_EQ(r.max_body_for("POST", "/upload"), std::size_t{10 << 20});
  EXPECT_EQ(r.max_body_for("GET", "/upload"), std::size_t{1 << 20});
  EXPECT_EQ(r.max_body_for("PUT", "/upload"), std::size_t{10 << 20});  // unknown method: largest
  EXPECT_GT(r.max_body_for("GET", "/nothing"), 0u);
}

TEST(Message, HeadersCaseInsensitive) {
  Headers h;
  h.add("Content-Type", "a");
  h.add("X-Y", "1");
  EXPECT_EQ(h.get("content-type"), "a");
  EXPECT_TRUE(h.has("x-y"));
  h.set("CONTENT-TYPE", "b");
  EXPECT_EQ(h.get("Content-Type"), "b");
  EXPECT_EQ(h.items().size(), 2u);
  h.remove("x-Y");
  EXPECT_FALSE(h.has("X-Y"));
  EXPECT_EQ(h.get("missing"), "");
}

TEST(Message, QueryParams) {
  Request r;
  r.query = "q=hello+world&x=%2Fa%20b&empty=&flag&q=second&bad=%zz";
  EXPECT_EQ(r.query_param("q").value(), "hello world");
  EXPECT_EQ(r.query_param("x").value(), "/a b");
  EXPECT_EQ(r.query_param("empty").value(), "");
  EXPECT_EQ(r.query_param("flag").value(), "");
  EXPECT_EQ(r.query_param("bad").value(), "%zz");
  EXPECT_FALSE(r.query_param("nope"));
  auto all = r.query_params();
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[4].second, "second");
  r.path_params = {{"id", "7"}};
  EXPECT_EQ(r.param("id"), "7");
  EXPECT_EQ(r.param("x"), "");
}

TEST(Message, UserThrowsUnauthorized) {
  Request r;
  try {
    r.user();
    FAIL() << "expected a throw";
  } catch (const taskhub::ApiError& e) {
    EXPECT_EQ(e.status(), 401);
  }
  taskhub::Principal p;
  p.user_id = "u1";
  r.principal = p;
  EXPECT_EQ(r.user().user_id, "u1");
}

TEST(Message, ProblemShape) {
  auto r = problem_response(404, "not-found", "Nope", "rid-1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.get("Content-Type"), "application/problem+json");
  auto v = boost::json::parse(r.body).as_object();
  EXPECT_EQ(v.at("type").as_string(), "urn:taskhub:problem:not-found");
  EXPECT_EQ(v.at("title").as_string(), "Not Found");
  EXPECT_EQ(v.at("status").as_int64(), 404);
  EXPECT_EQ(v.at("detail").as_string(), "Nope");
  EXPECT_EQ(v.at("request_id").as_string(), "rid-1");
  EXPECT_FALSE(v.contains("errors"));
  EXPECT_FALSE(v.contains("instance"));

  r = problem_response(400, "validation-error", "Bad", "rid", {{"email", "invalid"}}, "/api/v1/x");
  v = boost::json::parse(r.body).as_object();
  EXPECT_EQ(v.at("instance").as_string(), "/api/v1/x");
  ASSERT_EQ(v.at("errors").as_array().size(), 1u);
  EXPECT_EQ(v.at("errors").as_array()[0].at("field").as_string(), "email");
  EXPECT_EQ(v.at("errors").as_array()[0].at("message").as_string(), "invalid");
}

TEST(Message, ResponseFactories) {
  auto j = Response::json(201, boost::json::object{{"a", 1}});
  EXPECT_EQ(j.status, 201);
  EXPECT_EQ(j.body, R"({"a":1})");
  EXPECT_EQ(j.headers.get("content-type"), "application/json");
  EXPECT_EQ(Response::no_content().status, 204);
  auto t = Response::text(200, "hi");
  EXPECT_EQ(t.headers.get("Content-Type"), "text/plain; charset=utf-8");
}
