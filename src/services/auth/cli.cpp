#include "services/auth/cli.hpp"

#include <cstdio>
#include <optional>

#include "core/error.hpp"
#include "core/time.hpp"
#include "services/auth/service.hpp"

namespace taskhub::auth {

namespace {

constexpr const char* kUsage =
    "usage: taskhub admin create-user --email E --password P [--name N] [--admin]\n"
    "       taskhub admin list-users\n"
    "       taskhub admin deactivate-user --email E\n";

struct Flags {
  std::optional<std::string> email, password, name;
  bool admin = false;
};

// Parses "--flag value" and "--flag=value"; throws std::invalid_argument on anything else.
Flags parse_flags(const std::vector<std::string>& args, std::size_t from, bool allow_create_flags) {
  Flags f;
  for (std::size_t i = from; i < args.size(); ++i) {
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "--email") {
      f.email = value();
    } else if (allow_create_flags && a == "--password") {
      f.password = value();
    } else if (allow_create_flags && a == "--name") {
      f.name = value();
    } else if (allow_create_flags && a == "--admin" && !inline_value) {
      f.admin = true;
    } else {
      throw std::invalid_argument("unknown option '" + args[i] + "'");
    }
  }
  return f;
}

void print_api_error(const ApiError& e) {
  std::fprintf(stderr, "taskhub admin: %s\n", e.detail().c_str());
  for (const auto& fe : e.errors()) std::fprintf(stderr, "  %s: %s\n", fe.field.c_str(), fe.message.c_str());
}

}  // namespace

int run_admin_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string& cmd = args[0];
  try {
    if (cmd == "create-user") {
      Flags f = parse_flags(args, 1, true);
      if (!f.email || !f.password) throw std::invalid_argument("create-user needs --email and --password");
      AuthService svc(db, nullptr, clock, options_from_config(config));
      RegisterInput in;
      in.email = *f.email;
      in.password = *f.password;
      if (f.name) {
        in.display_name = *f.name;
      } else {
        auto at = f.email->find('@');
        in.display_name = at == std::string::npos || at == 0 ? *f.email : f.email->substr(0, at);
      }
      in.make_admin = f.admin;
      in.trusted = true;
      User u = svc.register_user(in);
      std::printf("created user %s <%s>%s\n", u.id.c_str(), u.email.c_str(), u.is_admin ? " (administrator)" : "");
      return 0;
    }
    if (cmd == "list-users") {
      parse_flags(args, 1, false);
      if (args.size() > 1) throw std::invalid_argument("list-users takes no options");
      AuthService svc(db, nullptr, clock, options_from_config(config));
      auto users = svc.all_users();
      std::printf("%-36s  %-32s  %-5s  %-6s  %-24s  %s\n", "ID", "EMAIL", "ADMIN", "ACTIVE", "CREATED", "NAME");
      for (const auto& u : users)
        std::printf("%-36s  %-32s  %-5s  %-6s  %-24s  %s\n", u.id.c_str(), u.email.c_str(), u.is_admin ? "yes" : "no",
                    u.is_active ? "yes" : "no", format_rfc3339_ms(u.created_at).c_str(), u.display_name.c_str());
      std::printf("%zu user(s)\n", users.size());
      return 0;
    }
    if (cmd == "deactivate-user") {
      Flags f = parse_flags(args, 1, false);
      if (!f.email) throw std::invalid_argument("deactivate-user needs --email");
      AuthService svc(db, nullptr, clock, options_from_config(config));
      if (!svc.deactivate_by_email(*f.email)) {
        std::fprintf(stderr, "taskhub admin: no account with e-mail %s\n", f.email->c_str());
        return 1;
      }
      std::printf("deactivated %s; its sessions and tokens no longer work\n", f.email->c_str());
      return 0;
    }
    std::fprintf(stderr, "taskhub admin: unknown command '%s'\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "taskhub admin: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const ApiError& e) {
    print_api_error(e);
    return 1;
  }
}

}  // namespace taskhub::auth
