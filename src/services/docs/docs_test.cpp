// Docs module: routes, CSP, asset name checks and the "assets missing" page.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "app/config.hpp"
#include "app/modules.hpp"
#include "core/error.hpp"
#include "services/docs/module.hpp"

using namespace taskhub;
namespace fs = std::filesystem;

namespace {

struct DocsFixture {
  Config config;
  http::Router router;
  http::Server server{http::ServerOptions{}, router};  // never started
  ManualClock clock;
  std::unique_ptr<AppContext> ctx;
  std::unique_ptr<Module> module;

  explicit DocsFixture(std::string assets_dir) {
    config.docs_assets_dir = std::move(assets_dir);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
    ctx = std::make_unique<AppContext>(config, router, server, clock);
#pragma GCC diagnostic pop
    module = docs::make_module(*ctx);
  }

  http::Response get(const std::string& path) {
    auto m = router.match("GET", path);
    if (!m.route) throw not_found();
    http::Request req;
    req.method = "GET";
    req.path = path;
    req.path_params = m.params;
    return m.route->handler(req);
  }
};

fs::path make_assets() {
  fs::path root = fs::path(::testing::TempDir()) / "taskhub_docs_assets";
  fs::remove_all(root);
  fs::create_directories(root / "swagger-ui-dist");
  fs::create_directories(root / "redoc" / "bundles");
  std::ofstream(root / "swagger-ui-dist" / "swagger-ui-bundle.js") << "/*swagger*/";
  std::ofstream(root / "swagger-ui-dist" / "swagger-ui.css") << "/*css*/";
  std::ofstream(root / "redoc" / "bundles" / "redoc.standalone.js") << "/*redoc*/";
  std::ofstream(root / "secret.txt") << "no";
  return root;
}

}  // namespace

TEST(Docs, PagesAndAssets) {
  fs::path root = make_assets();
  DocsFixture f(root.string());

  auto page = f.get("/api/docs");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/api/docs/assets/swagger-ui-bundle.js"), std::string::npos);
  std::string csp(page.headers.get("Content-Security-Policy"));
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("script-src 'self' 'unsafe-inline'"), std::string::npos);
  EXPECT_EQ(f.get("/api/docs/init.js").headers.get("Content-Type"), "text/javascript; charset=utf-8");

  auto redoc = f.get("/api/redoc");
  EXPECT_NE(redoc.body.find("/api/redoc/assets/redoc.standalone.js"), std::string::npos);
  EXPECT_NE(std::string(redoc.headers.get("Content-Security-Policy")).find("worker-src 'self' blob:"),
            std::string::npos);

  auto js = f.get("/api/docs/assets/swagger-ui-bundle.js");
  EXPECT_EQ(fs::path(js.file_path), root / "swagger-ui-dist" / "swagger-ui-bundle.js");
  EXPECT_EQ(js.headers.get("Cache-Control"), "public, max-age=86400");
  EXPECT_FALSE(f.get("/api/redoc/assets/redoc.standalone.js").file_path.empty());

  for (std::string bad : {"/api/docs/assets/missing.js", "/api/docs/assets/..", "/api/docs/assets/.hidden",
                          "/api/docs/assets/a..b", "/api/redoc/assets/swagger-ui.css"}) {
    try {
      f.get(bad);
      ADD_FAILURE() << bad << " should be 404";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 404) << bad;
    }
  }
  // A name with a slash never reaches the handler as one parameter (router splits it).
  EXPECT_FALSE(f.router.match("GET", "/api/docs/assets/../secret.txt").route);
}

TEST(Docs, OpenApiDocumentIsJson) {
  DocsFixture f((fs::path(::testing::TempDir()) / "taskhub_no_assets").string());
  auto r = f.get("/api/openapi.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  auto v = boost::json::parse(r.body);
  EXPECT_TRUE(v.as_object().contains("openapi"));
}

TEST(Docs, MissingAssetsPageExplainsSetup) {
  DocsFixture f((fs::path(::testing::TempDir()) / "taskhub_no_assets").string());
  for (const char* p : {"/api/docs", "/api/redoc"}) {
    auto r = f.get(p);
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("scripts/setup"), std::string::npos);
    EXPECT_NE(r.body.find("DOCS_ASSETS_DIR"), std::string::npos);
  }
}
