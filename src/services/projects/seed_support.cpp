#include "services/projects/seed_support.hpp"

#include "app/seed_batch.hpp"
#include "core/ids.hpp"

namespace taskhub::projects::seed {

using taskhub::seed::BatchInsert;

std::string project_key(int i) {
  static const char* const named[] = {"WEB", "API", "OPS", "MOB", "DOC", "DATA", "INFRA", "QA"};
  constexpr int kNamed = static_cast<int>(sizeof named / sizeof named[0]);
  if (i < kNamed) return named[i];
  int n = i - kNamed;
  std::string letters;
  do {
    letters.insert(letters.begin(), static_cast<char>('A' + n % 26));
    n = n / 26 - 1;
  } while (n >= 0);
  return "P" + letters;
}

SeedWorkspace seed_workspace(sql::Connection& c, const std::string& name, int projects,
                             const std::vector<std::string>& user_ids, std::mt19937_64& rng, int64_t now) {
  SeedWorkspace ws;
  ws.id = new_uuid_v7();
  const std::string& owner = user_ids.front();
  c.exec("INSERT INTO workspaces (id, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
         {ws.id, name, owner, now, now});

  // Roles: first user owner, ~10% admins, ~10% guests (not the first three), the rest members.
  std::vector<std::string> roles(user_ids.size());
  BatchInsert wm("workspace_members", {"workspace_id", "user_id", "role", "created_at"});
  for (std::size_t i = 0; i < user_ids.size(); ++i) {
    std::string role = i == 0 ? "owner" : (i % 10 == 1 ? "admin" : (i >= 3 && i % 10 == 7 ? "guest" : "member"));
    roles[i] = role;
    wm.add({ws.id, user_ids[i], role, now});
  }
  wm.flush(c);
  ws.workspace_members = wm.total();

  static const char* const project_names[] = {"Website", "Public API", "Operations", "Mobile app", "Documentation",
                                              "Data platform", "Infrastructure", "Quality"};
  static const struct {
    const char* name;
    const char* group;
    const char* color;
  } states[] = {{"Backlog", "backlog", "#a3a3a3"},
                {"Todo", "unstarted", "#3b82f6"},
                {"In Progress", "started", "#f59e0b"},
                {"Done", "completed", "#16a34a"},
                {"Cancelled", "cancelled", "#ef4444"}};
  static const struct {
    const char* name;
    const char* color;
  } labels[] = {{"bug", "#ef4444"},        {"feature", "#3b82f6"},  {"improvement", "#22c55e"},
                {"documentation", "#a855f7"}, {"performance", "#f97316"}, {"security", "#dc2626"},
                {"design", "#ec4899"},     {"backend", "#0ea5e9"},  {"frontend", "#14b8a6"},
                {"tech-debt", "#78716c"}};

  BatchInsert pr("projects", {"id", "workspace_id", "name", "key", "description", "is_private", "version",
                              "created_by", "created_at", "updated_at"});
  BatchInsert pm("project_members", {"project_id", "user_id", "role", "created_at"});
  BatchInsert st("workflow_states", {"id", "project_id", "name", "grp", "color", "position", "created_at"});
  BatchInsert lb("labels", {"id", "project_id", "name", "name_lower", "color", "created_at"});
  for (int p = 0; p < projects; ++p) {
    SeedProject sp;
    sp.id = new_uuid_v7();
    sp.key = project_key(p);
    std::string pname = p < 8 ? project_names[p] : "Project " + sp.key;
    pr.add({sp.id, ws.id, pname, sp.key, "Sample project " + sp.key + " created by taskhub seed.",
            (p % 5 == 4) ? 1 : 0, 1, owner, now, now});
    // Members: every non-guest workspace member; the owner and every 7th user admin, every 9th viewer.
    for (std::size_t i = 0; i < user_ids.size(); ++i) {
      if (roles[i] == "guest") continue;
      std::string role = (i == 0 || i % 7 == 3) ? "admin" : (i % 9 == 5 ? "viewer" : "member");
      pm.add({sp.id, user_ids[i], role, now});
      if (role != "viewer") sp.member_ids.push_back(user_ids[i]);
    }
    for (int s = 0; s < 5; ++s) {
      SeedState ss{new_uuid_v7(), states[s].group};
      st.add({ss.id, sp.id, states[s].name, states[s].group, states[s].color, (s + 1) * 1000, now});
      sp.states.push_back(std::move(ss));
    }
    // ~10 labels: 8 to 10 of the list.
    int nl = 8 + static_cast<int>(rng() % 3);
    for (int l = 0; l < nl; ++l) {
      std::string id = new_uuid_v7();
      lb.add({id, sp.id, labels[l].name, labels[l].name, labels[l].color, now});
      sp.label_ids.push_back(std::move(id));
    }
    ws.projects.push_back(std::move(sp));
    if (pm.pending() > 5000) {
      pr.flush(c);
      pm.flush(c);
    }
  }
  pr.flush(c);
  pm.flush(c);
  st.flush(c);
  lb.flush(c);
  ws.project_members = pm.total();
  ws.states = st.total();
  ws.labels = lb.total();
  return ws;
}

}  // namespace taskhub::projects::seed
