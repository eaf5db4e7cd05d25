#include "app/modules.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace taskhub {
namespace {

std::vector<ModuleDef> defs(std::vector<std::pair<std::string, std::vector<std::string>>> spec) {
  std::vector<ModuleDef> out;
  for (auto& [name, deps] : spec) out.push_back({name, deps, "", nullptr});
  return out;
}

std::vector<std::string> names(const std::vector<const ModuleDef*>& order) {
  std::vector<std::string> out;
  for (auto* d : order) out.push_back(d->name);
  return out;
}

std::size_t pos(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), x) - v.begin());
}

TEST(ResolveModules, AllExpandsToEveryModuleWithDependenciesFirst) {
  auto d = defs({{"auth", {"database", "mailer"}}, {"database", {}}, {"mailer", {}}, {"docs", {}}});
  auto order = names(resolve_modules(d, "all"));
  ASSERT_EQ(order.size(), 4u);
  EXPECT_LT(pos(order, "database"), pos(order, "auth"));
  EXPECT_LT(pos(order, "mailer"), pos(order, "auth"));
}

TEST(ResolveModules, SubsetPullsInDependenciesOnce) {
  auto d = defs({{"tasks", {"projects", "database"}}, {"projects", {"database"}}, {"database", {}}, {"docs", {}}});
  auto order = names(resolve_modules(d, "tasks,projects"));
  EXPECT_EQ(order, (std::vector<std::string>{"database", "projects", "tasks"}));
}

TEST(ResolveModules, UnknownNameIsAnError) {
  auto d = defs({{"database", {}}});
  try {
    resolve_modules(d, "database,nope");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown module 'nope'"), std::string::npos) << e.what();
  }
}

TEST(ResolveModules, CycleIsAnErrorNamingTheCycle) {
  auto d = defs({{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}, {"d", {}}});
  try {
    resolve_modules(d, "a");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("a -> b -> c -> a"), std::string::npos) << msg;
  }
}

TEST(ResolveModules, DependencyOnUnlistedModuleIsAnError) {
  auto d = defs({{"a", {"ghost"}}});
  EXPECT_THROW(resolve_modules(d, "all"), std::runtime_error);
}

TEST(ResolveModules, EmptySelectionIsAnError) {
  auto d = defs({{"a", {}}});
  EXPECT_THROW(resolve_modules(d, " , "), std::runtime_error);
}

TEST(ResolveModules, TheRealListResolves) {
  auto order = names(resolve_modules(module_definitions(), "all"));
  EXPECT_EQ(order.size(), module_definitions().size());
  EXPECT_LT(pos(order, "database"), pos(order, "auth"));
}

// Start in dependency order, stop in reverse.
std::vector<std::string>* g_log;
class Recorder : public Module {
 public:
  explicit Recorder(std::string n) : n_(std::move(n)) {}
  void start() override { g_log->push_back("start " + n_); }
  void stop() override { g_log->push_back("stop " + n_); }

 private:
  std::string n_;
};

TEST(ModuleManager, StartsInOrderAndStopsInReverse) {
  std::vector<std::string> log;
  g_log = &log;
  std::vector<ModuleDef> d;
  for (auto [n, deps] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"c", {"b"}}, {"b", {"a"}}, {"a", {}}}) {
    std::string name = n;
    d.push_back({name, deps, "", [name](AppContext&) { return std::make_unique<Recorder>(name); }});
  }
  Config cfg;
  http::Router router;
  http::Server server(http::ServerOptions{}, router);
  SystemClock clock;
  AppContext ctx{cfg, router, server, clock};
  {
    ModuleManager m(d, ctx);
    m.start("c");
    m.stop();
    m.stop();  // idempotent
  }
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "start c", "stop c", "stop b", "stop a"}));
}

}  // namespace
}  // namespace taskhub
